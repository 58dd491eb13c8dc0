"""The run configuration, declared once.

Every field of `ModelConfig` and `TrainConfig` is declared below with `option(...)`:
its default, help, group, allowed values (a `Literal` type), range, whether `--resume`
may change it, and its label in the dashboard's new-run form. Everything else is
derived from these declarations:

- validation (`validate`: each field's range and choices, then the few rules that
  involve two fields) and the set of options `--resume` accepts (`RESUMABLE`);
- every option of `charlm-tui train` (tui/cli/training/train.py builds them from `SPECS`);
- the argv that starts a training child (`to_argv`), and the new-run form's rows;
- config.json and the configuration inside every checkpoint (`to_dict`/`from_dict`).

The defaults are the base, and the base is the default preset (`cpu`); the other
presets list only what they change, like nanoGPT's config/*.py files. Adding an option
means one declaration here plus the code that uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import (
    FRACTION,
    NON_NEGATIVE,
    Range,
    Spec,
    flag,
    like,
    option,
    positive_int,
    specs,
)
from charlm_tui.core.values import is_int, is_number

PresetName = Literal[
    "cpu", "gpu", "tiny", "seed", "nanogpt-baby", "bigram", "mlp", "rnn", "gru", "lstm"
]  # see PRESETS
ModelName = Literal["bigram", "mlp", "rnn", "gru", "lstm", "gpt"]  # see core/models
Activation = Literal["gelu", "relu2"]
Position = Literal["learned", "rope"]
OptimizerName = Literal["adamw", "muon"]
EncodingErrors = Literal["strict", "replace"]
OnAlert = Literal["warn", "pause", "stop"]

MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64 bits


def _device_problem(value: str) -> str | None:
    if value in ("auto", "cpu", "cuda", "mps"):
        return None
    index = value.removeprefix("cuda:")
    if value.startswith("cuda:") and index.isdigit():
        return None
    return f"must be auto, cpu, cuda, cuda:N or mps, not {value!r}"


def _ratio_problem(value: float) -> str | None:
    if value == 0 or (value > 1 and value <= 1e6):
        return None
    return f"must be 0 (off) or in (1, 1e6], not {value:g}"


def _text_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if any(not ch.isprintable() for ch in value):
        return f"must not hold control characters, not {value!r}"
    return None


@dataclass
class ModelConfig:
    model: ModelName = option(
        "gpt",
        "Architecture: bigram table, Bengio's MLP, char-rnn's rnn/gru/lstm, or gpt.",
        "model",
        form="model",
    )
    vocab_size: int = option(
        0, "Filled from the corpus.", "model", range=Range(0, 0x110000), cli=False
    )
    block_size: int = option(
        128, "Context length in characters.", "model", range=positive_int(1 << 16)
    )
    n_layer: int = option(
        3, "Layers: transformer blocks, or recurrent layers.", "model", range=positive_int(256)
    )
    n_head: int = option(4, "Attention heads (gpt).", "model", range=positive_int(256))
    n_embd: int = option(
        128, "Width: embeddings and the hidden state.", "model", range=positive_int(16384)
    )
    dropout: float = option(0.0, "Dropout rate.", "model", range=FRACTION)
    bias: bool = option(True, "Biases in linear layers and LayerNorms.", "model")
    activation: Activation = option(
        "relu2", "MLP nonlinearity: gelu, or relu2 (ReLU squared, Primer).", "model"
    )
    position: Position = option(
        "rope", "Positions: learned embeddings (GPT-2), or rope (rotary, in attention).", "model"
    )


@dataclass
class TrainConfig:
    preset: PresetName = option(
        "cpu", "Named settings; the options below override them.", "model", form="preset"
    )
    data: str = option(
        "shakespeare",
        "Text file, folder of *.txt, or built-in corpus: shakespeare, python.",
        "data",
        check=_text_problem,
        form="corpus",
    )
    val_fraction: float = option(
        0.1, "Last fraction of the corpus held out.", "data", range=Range(0.0, 1.0, True, True)
    )
    encoding_errors: EncodingErrors = option(
        "strict", "Invalid UTF-8: strict refuses it, replace substitutes U+FFFD.", "data"
    )
    keep_crlf: bool = option(
        False, "Keep Windows line endings (CRLF) as they are; by default they become \\n.", "data"
    )
    batch_size: int = option(
        12, "Sequences per step.", "optimisation", range=positive_int(1 << 16), form="batch size"
    )
    optimizer: OptimizerName = option(
        "muon",
        "adamw, or muon: orthogonalized updates for the blocks' matrices (AdamW for the rest).",
        "optimisation",
    )
    lr_scale: float = option(
        1.0,
        "Multiply the whole learning-rate schedule by this; steering (+/- in the dashboard, "
        "`steer --lr-scale`) changes it while the run trains.",
        "optimisation",
        range=Range(1e-4, 1e4),
        steerable=True,
    )
    adamw_lr_ratio: float = option(
        10.0,
        "With --optimizer muon: the AdamW part's learning rate (embeddings, head, gains, "
        "biases) as a multiple of --lr (its decoupled weight decay scales with it): 500 "
        "steps of the 4-layer cpu preset reached full-split val 1.649 with 10, 1.743 with 1.",
        "optimisation",
        range=Range(0.01, 100.0),
    )
    lr: float = option(
        4e-3,
        "Peak learning rate.",
        "optimisation",
        range=Range(0.0, lo_open=True),
        form="learning rate",
    )
    weight_decay: float = option(
        0.1, "Decoupled decay on matrices.", "optimisation", range=NON_NEGATIVE
    )
    beta1: float = option(0.9, "AdamW beta1 (momentum).", "optimisation", range=FRACTION)
    beta2: float = option(
        0.99, "AdamW beta2 (0.99 suits small data).", "optimisation", range=FRACTION
    )
    grad_clip: float = option(
        1.0, "Clip the gradient norm (0: off).", "optimisation", range=NON_NEGATIVE
    )
    max_iters: int | None = option(
        None,
        "Optimizer steps to train for (replaces a time budget).",
        "schedule",
        range=positive_int(10**9),
        steerable=True,
        form="max iters",
    )
    time_budget: float | None = option(
        300.0,
        "Seconds to train for (replaces --max-iters); the LR schedule follows the budget.",
        "schedule",
        range=Range(0.0, 1e7, lo_open=True),
        steerable=True,
        form="or seconds",
    )
    min_lr: float = option(
        4e-4, "Learning rate at the end of the cosine.", "schedule", range=NON_NEGATIVE
    )
    warmup_iters: int = option(50, "Linear warmup steps.", "schedule", range=Range(0, 10**9))
    eval_interval: int = option(
        200, "Evaluate every N steps.", "evaluation", range=positive_int(10**9), steerable=True
    )
    early_eval_s: float = option(
        15.0,
        "Also evaluate after this many seconds of training, then 2x, 4x and 8x that, so a "
        "slow machine shows val numbers within the first minute (0: only every N steps).",
        "evaluation",
        range=Range(0.0, 3600.0),
        resumable=True,
    )
    eval_iters: int = option(
        10,
        "Batches per split at each eval.",
        "evaluation",
        range=positive_int(10_000),
        resumable=True,
    )
    sample_interval: int = option(
        600,
        "Write a sample every N steps (0: never).",
        "evaluation",
        range=Range(0, 10**9),
        steerable=True,
    )
    sample_temperature: float = option(
        0.8,
        "Temperature of the samples written during training.",
        "evaluation",
        range=Range(0.0, 10.0),
        steerable=True,
    )
    sample_chars: int = option(
        200, "Length of those samples.", "evaluation", range=positive_int(100_000), resumable=True
    )
    sample_prompt: str | None = option(
        None,
        "The text the samples start from (default: a newline, as a speech starts); every "
        "character must be in the corpus.",
        "evaluation",
        check=lambda v: "must not be empty" if v == "" else None,
        resumable=True,
        metavar="TEXT",
    )
    early_sample_s: float = option(
        30.0,
        "Also write a sample after this many seconds of training, then 2x, 4x and 8x that, "
        "so a slow machine shows text early (0: by steps only). A run that reaches its end "
        "writes one more there, unless --sample-interval is 0.",
        "evaluation",
        range=Range(0.0, 3600.0),
        resumable=True,
    )
    log_interval: int = option(
        10,
        "Write a step record every N steps.",
        "evaluation",
        range=positive_int(10**9),
        resumable=True,
    )
    on_alert: OnAlert = option(
        "warn",
        "What a loss or gradient-norm spike does: warn (an alert in the records and on the "
        "dashboard), pause (resumable from the dashboard or `steer --resume`), or stop. A "
        "non-finite loss always stops.",
        "health",
        resumable=True,
    )
    alert_loss_ratio: float = option(
        1.5,
        "A train loss above this many times its moving average (over ~50 readings, after "
        "the first 50; a reading is every step on a CPU, every --log-interval steps on a "
        "GPU, where losses are read back that often) is a loss spike (0: never).",
        "health",
        check=_ratio_problem,
        resumable=True,
    )
    alert_grad_ratio: float = option(
        10.0,
        "A gradient norm (before clipping) above this many times its moving average is a "
        "gradient-norm spike (0: never).",
        "health",
        check=_ratio_problem,
        resumable=True,
    )
    internals_interval: int = option(
        50,
        "Record the model's internals every N steps (0: never): per layer the activations' "
        "mean, std and saturated fraction, the gradient norm, and each weight matrix's "
        "update-to-data ratio (the dashboard's n pane).",
        "health",
        range=Range(0, 10**9),
        resumable=True,
    )
    seed: int = option(1337, "Random seed.", "system", range=Range(0, MAX_SEED))
    device: str = option(
        "auto", "auto, cpu, cuda, cuda:N or mps.", "system", check=_device_problem, resumable=True
    )
    threads: int = option(
        0,
        "CPU threads for torch (0: torch's default).",
        "system",
        range=Range(0, 1024),
        resumable=True,
    )
    compile: bool = option(
        False, "torch.compile the model (needs a C compiler; falls back to eager).", "system"
    )
    # In config.json, so a resumed run goes on writing its event files.
    tensorboard: bool = option(
        False,
        "Also write TensorBoard event files into <run>/tb/ "
        '(pip install "charlm-tui[tensorboard]").',
        "system",
        resumable=True,
    )

    @property
    def length(self) -> RunLength:
        return RunLength(self.max_iters, self.time_budget)


SPECS: dict[str, Spec] = {**specs(ModelConfig, "model"), **specs(TrainConfig, "train")}
MODEL_FIELDS = frozenset(n for n, s in SPECS.items() if s.section == "model")
TRAIN_FIELDS = frozenset(n for n, s in SPECS.items() if s.section == "train")
RESUMABLE = frozenset(n for n, s in SPECS.items() if s.resumable)
STEERABLE = tuple(n for n, s in SPECS.items() if s.steerable)  # in a fixed order (DDP)
LENGTH_FIELDS = ("max_iters", "time_budget")  # one run length: giving one clears the other
# Options that change how a run runs or what it reports, never what it learns (its seed
# aside): runs that differ only in these and the seed are replicas (core/report/groups.py),
# and a sweep over them would train copies (core/experiments/sweep.py). The evaluation's
# own options are not here: they change the val numbers.
NOT_LEARNED = frozenset(
    {
        "preset", "device", "threads", "compile", "tensorboard", "log_interval",
        "sample_interval", "sample_temperature", "sample_chars", "sample_prompt",
        "early_sample_s", "on_alert", "alert_loss_ratio", "alert_grad_ratio",
        "internals_interval",
    }
)  # fmt: skip
# The model options each architecture reads (every one trains on windows of block_size);
# the rest keep their preset's value and mean nothing for it (a bigram's n_layer).
_RECURRENT = frozenset({"model", "vocab_size", "block_size", "n_layer", "n_embd", "dropout"})
MODEL_USES: dict[str, frozenset[str]] = {
    "bigram": frozenset({"model", "vocab_size", "block_size"}),
    "mlp": frozenset({"model", "vocab_size", "block_size", "n_embd", "dropout"}),
    "rnn": _RECURRENT,
    "gru": _RECURRENT,
    "lstm": _RECURRENT,
    "gpt": MODEL_FIELDS,
}


# -- presets: deltas on the base (the defaults above, which are `cpu`) -----------------------

# What several presets share. GPT-2's choices (learned positions, GELU, AdamW), which the
# cpu preset's per-step wins replace; nanoGPT's baby GPT (6 blocks of 6 heads of 384, a
# 256-character context, batch 64) and its recipe; the zoo's optimiser and eval cadence.
GPT2_CHOICES: dict[str, Any] = dict(position="learned", activation="gelu", optimizer="adamw")
BABY_GPT: dict[str, Any] = dict(
    block_size=256, n_layer=6, n_head=6, n_embd=384, batch_size=64, warmup_iters=100
)
NANOGPT_RECIPE: dict[str, Any] = {
    **GPT2_CHOICES,
    "lr": 1e-3,
    "min_lr": 1e-4,
    "sample_interval": 500,
}
ZOO: dict[str, Any] = dict(
    optimizer="adamw", batch_size=64, eval_interval=250, eval_iters=20, sample_interval=1000
)

PRESETS: dict[str, dict[str, Any]] = {
    # Swept for 300 s on a 2-core CPU (BENCHMARKS.md): in a short budget, more updates of
    # a small model win (6 layers or width 192 see too few tokens to catch up); rotary
    # positions with ReLU squared learn faster per step than GPT-2's choices, and Muon
    # faster again than AdamW (1.58 -> 1.51 nats on the full val split in 300 s). Three
    # layers at lr 4e-3, not four at 3e-3 (2026-11-26, AVX-512): 1.594 against 1.620 after
    # 50 s, 1.495 against 1.488 after 300 s; nanoGPT's 300-s loss 6.3x sooner, not 4.4x.
    "cpu": {},
    # For a CUDA GPU: nanoGPT's baby-GPT shape (6 x 6 x 384, block 256, batch 64) with
    # the cpu preset's per-step wins (rotary positions, ReLU squared, Muon), less dropout
    # and torch.compile. The CUDA path adds bf16 autocast, TF32, Muon's iteration in bf16,
    # batches gathered on the device and losses read back every --log-interval steps.
    # Swept on an H200 with bench/gpu_speedrun.py (BENCHMARKS.md, 2026-11-26; one run
    # each): 800 steps at lr 3e-3 reached the full-split 1.47 at step 500, 2.0x sooner in
    # training time than nanoGPT's recipe (steps 500-800 not measured: the script stops
    # at the target); batch 128 overfits before 1.47 (train 1.06, val 1.48 at 400),
    # batch 256 at lr 4e-3 is unstable, dropout 0.2 ends just short (1.4709).
    "gpu": {
        **BABY_GPT,
        "dropout": 0.1,
        "max_iters": 800,
        "lr": 3e-3,
        "min_lr": 3e-4,
        "eval_interval": 100,
        "eval_iters": 50,
        "sample_interval": 200,
        "compile": True,
        # A recording step runs eager (hooks do not fire through the compiled model) and
        # reads back, draining the queue the GPU runs ahead on: an estimated 2-3 compiled
        # steps' time, not measured on a GPU. One in 100 keeps that near 3%.
        "internals_interval": 100,
    },
    # Seconds on a laptop: for tests and trying things out.
    "tiny": {
        **GPT2_CHOICES,
        "block_size": 32,
        "n_layer": 1,
        "n_head": 2,
        "n_embd": 32,
        "batch_size": 16,
        "lr": 3e-3,
        "min_lr": 3e-4,
        "max_iters": 200,
        "warmup_iters": 10,
        "eval_interval": 50,
        "early_eval_s": 0.0,  # its evals come every few seconds anyway; keep them by step
        "early_sample_s": 0.0,
        "eval_iters": 5,
        "sample_interval": 100,
        "sample_chars": 80,
        "log_interval": 5,
    },
    # The 3.7M-parameter model of the experiment log this product grew out of: the baby
    # GPT's blocks, two of them, trained as nanoGPT trains it.
    "seed": {
        **BABY_GPT,
        **NANOGPT_RECIPE,
        "n_layer": 2,
        "dropout": 0.1,
        "max_iters": 3000,
        "eval_interval": 100,
        "eval_iters": 20,
    },
    # nanoGPT's shakespeare_char configuration.
    "nanogpt-baby": {
        **BABY_GPT,
        **NANOGPT_RECIPE,
        "dropout": 0.2,
        "max_iters": 5000,
        "eval_interval": 250,
        "eval_iters": 200,
    },
    # The count-table baseline of makemore.
    "bigram": {
        **ZOO,
        "model": "bigram",
        "block_size": 64,
        "max_iters": 2000,
        "lr": 0.1,
        "min_lr": 0.01,
        "warmup_iters": 0,
        "weight_decay": 0.0,
        "eval_iters": 10,
    },
    # The model zoo, each a few minutes on one laptop core. Step times are forward,
    # backward, clip and AdamW step at the preset's shape (V = 65), median of 8, torch
    # 2.13, one thread of a shared 2-core machine.
    # Bengio et al. 2003's MLP as in makemore, 16 characters of context; 283k params at
    # V = 65; 16 ms/step: 6000 steps in ~1.6 min (15 s reach val 1.94 on tinyshakespeare).
    "mlp": {
        **ZOO,
        "model": "mlp",
        "block_size": 16,
        "n_embd": 64,
        "max_iters": 6000,
        "lr": 2e-3,
        "min_lr": 2e-4,
        "weight_decay": 0.01,
    },
    # char-rnn's defaults (2 layers of 128, 50-character windows, batch 50, no dropout,
    # lr 2e-3) for each recurrent cell, so the three compare at one shape; 3000 steps.
    # rnn: 83k params, 16 ms/step, ~50 s; gru: 215k, 50 ms, ~2.5 min; lstm: 281k, 50 ms.
    **{
        cell: {
            **ZOO,
            "model": cell,
            "block_size": 50,
            "n_layer": 2,
            "n_embd": 128,
            "batch_size": 50,
            "max_iters": 3000,
            "lr": 2e-3,
            "min_lr": 2e-4,
            "weight_decay": 0.0,
        }
        for cell in ("rnn", "gru", "lstm")
    },
}
DEFAULT_PRESET = "cpu"
assert set(PRESETS) == set(get_args(PresetName)), "PresetName and PRESETS must agree"


def merge(values: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """values updated by the options given (None: not given). A run has one length:
    giving --max-iters or --time-budget alone clears the other."""
    given = {k: v for k, v in given.items() if v is not None}
    unknown = set(given) - set(SPECS)
    if unknown:
        raise CharLMError(f"unknown option(s): {', '.join(sorted(map(flag, unknown)))}")
    out = {**values, **given}
    for mine, other in (LENGTH_FIELDS, LENGTH_FIELDS[::-1]):
        if mine in given and other not in given:
            out[other] = None
    return out


def preset_values(name: str) -> dict[str, Any]:
    """Every field's value under a preset: the base, then the preset's delta."""
    if name not in PRESETS:
        raise CharLMError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    base = {n: s.default for n, s in SPECS.items()}
    return {**merge(base, PRESETS[name]), "preset": name}


def build_configs(
    preset: str | None = None, overrides: dict[str, Any] | None = None
) -> tuple[ModelConfig, TrainConfig]:
    """The preset's values, then the explicit overrides (None values mean 'not given')."""
    name = preset or DEFAULT_PRESET
    values = merge(preset_values(name), {**(overrides or {}), "preset": name})
    return configs_from_values(values)


def configs_from_values(values: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    values = {
        k: float(v) if SPECS[k].base is float and type(v) is int else v for k, v in values.items()
    }
    mcfg = ModelConfig(**{k: v for k, v in values.items() if k in MODEL_FIELDS})
    tcfg = TrainConfig(**{k: v for k, v in values.items() if k in TRAIN_FIELDS})
    validate(mcfg, tcfg)
    return mcfg, tcfg


def values_of(mcfg: ModelConfig, tcfg: TrainConfig) -> dict[str, Any]:
    return {**asdict(mcfg), **asdict(tcfg)}


def validate(mcfg: ModelConfig, tcfg: TrainConfig) -> None:
    """Each field's own rule, then the rules that tie fields together."""
    values = values_of(mcfg, tcfg)
    for name, spec in SPECS.items():
        spec.validate(values[name])
    if mcfg.model == "gpt":
        if mcfg.n_embd % mcfg.n_head:
            raise CharLMError(
                f"--n-embd ({mcfg.n_embd}) must be divisible by --n-head ({mcfg.n_head})"
            )
        if mcfg.position == "rope" and (mcfg.n_embd // mcfg.n_head) % 2:
            raise CharLMError(
                f"--position rope needs an even head size; --n-embd / --n-head is "
                f"{mcfg.n_embd // mcfg.n_head}"
            )
    if tcfg.min_lr > tcfg.lr:
        raise CharLMError(f"--min-lr ({tcfg.min_lr}) must not exceed --lr ({tcfg.lr})")
    if (tcfg.max_iters is None) == (tcfg.time_budget is None):
        raise CharLMError("give exactly one of --max-iters and --time-budget")


# -- the run's length ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunLength:
    """How long a run trains: a number of optimizer steps, or seconds of training time
    (pauses excluded). One notion for the trainer's clock, the schedule and the screens."""

    iters: int | None = None
    seconds: float | None = None

    @classmethod
    def of(cls, train: dict[str, Any]) -> RunLength | None:
        """From a config.json "train" section written by anyone: None if it has neither."""
        iters, seconds = train.get("max_iters"), train.get("time_budget")
        if is_int(iters) and iters > 0:
            return cls(iters=iters)
        if is_number(seconds) and seconds > 0:
            return cls(seconds=float(seconds))
        return None

    @property
    def by_time(self) -> bool:
        return self.iters is None

    def progress(self, it: int, elapsed_s: float) -> float:
        if self.iters is not None:
            return min(1.0, it / self.iters)
        return min(1.0, elapsed_s / (self.seconds or 1.0))

    def finished(self, it: int, elapsed_s: float) -> bool:
        if self.iters is not None:
            return it >= self.iters
        return elapsed_s >= (self.seconds or 0.0)

    def remaining_s(self, it: int, elapsed_s: float, s_per_iter: float) -> float:
        if self.iters is None:
            return max(0.0, (self.seconds or 0.0) - elapsed_s)
        return s_per_iter * max(0, self.iters - it)

    def describe(self) -> str:
        return f"{self.iters:,} iters" if self.iters is not None else f"{self.seconds:g}s"

    def doubled(self) -> dict[str, Any]:
        """The options of a resume that trains as long again as this length."""
        if self.iters is not None:
            return {"max_iters": 2 * self.iters}
        return {"time_budget": 2 * (self.seconds or 0.0)}


# -- config.json, checkpoints and argv ----------------------------------------------------------


def to_dict(mcfg: ModelConfig, tcfg: TrainConfig) -> dict[str, Any]:
    return {"model": asdict(mcfg), "train": asdict(tcfg)}


# Fields added after the first runs were written, with the value a run without them had.
LEGACY = {
    "activation": "gelu",
    "position": "learned",
    "optimizer": "adamw",
    "max_iters": None,
    "adamw_lr_ratio": 1.0,
}


def from_dict(d: Any, where: str = "config") -> tuple[ModelConfig, TrainConfig]:
    """Inverse of to_dict for a configuration written by anyone: every field is checked
    for type and range before it is used (a crafted checkpoint is refused in one line)."""
    if not isinstance(d, dict) or not isinstance(d.get("model"), dict):
        raise CharLMError(f"{where} is not a charlm-tui configuration (no model section)")
    if not isinstance(d.get("train"), dict):
        raise CharLMError(f"{where} is not a charlm-tui configuration (no train section)")
    values: dict[str, Any] = {}
    for section in ("model", "train"):
        for name, value in d[section].items():
            spec = SPECS.get(name)
            if spec is None or spec.section != section:
                raise CharLMError(f"{where}: unknown configuration field {name!r}")
            if name == "preset" and value not in PRESETS:
                value = None  # a preset of another version: its values are all here anyway
            values[name] = spec.coerce(value, where) if value is not None else None
    for name, spec in SPECS.items():
        if values.get(name) is None and not spec.optional:
            values[name] = LEGACY.get(name, spec.default)
        values.setdefault(name, LEGACY.get(name, spec.default))
    mcfg = ModelConfig(**{k: v for k, v in values.items() if k in MODEL_FIELDS})
    tcfg = TrainConfig(**{k: v for k, v in values.items() if k in TRAIN_FIELDS})
    try:
        validate(mcfg, tcfg)
    except CharLMError as e:
        raise CharLMError(f"{where}: {e}") from None
    return mcfg, tcfg


def to_argv(mcfg: ModelConfig, tcfg: TrainConfig) -> list[str]:
    """Options of `charlm-tui train` that give exactly these configs (see test_config)."""
    values = values_of(mcfg, tcfg)
    return [
        arg for name, spec in SPECS.items() if spec.cli for arg in option_args(name, values[name])
    ]


def option_args(name: str, value: Any) -> list[str]:
    """`--name value` (`--flag`/`--no-flag` for booleans; nothing for None)."""
    if value is None:
        return []
    if isinstance(value, tuple):  # a repeated option: once per value
        return [a for item in value for a in option_args(name, item)]
    if isinstance(value, bool):
        return [flag(name) if value else "--no-" + flag(name)[2:]]
    # --name=value: a value that starts with a dash is never read as an option
    return [f"{flag(name)}={repr(value) if isinstance(value, float) else value}"]


def cli_specs() -> Iterator[Spec]:
    return (s for s in SPECS.values() if s.cli)


def form_specs() -> list[Spec]:
    """The new-run form's rows: the corpus and the preset first, then declaration order."""
    first = {"data": 0, "preset": 1}
    return sorted((s for s in SPECS.values() if s.form), key=lambda s: first.get(s.name, 2))


def replace(cfg: Any, **changes: Any) -> Any:
    return dataclasses.replace(cfg, **changes)


def shape_label(model: dict[str, Any], compact: bool = False) -> str:
    """A model's architecture in a few characters, from config.json's model section (any
    writer's: a field that is missing or not a whole number is left out):
    `gpt 3×4×128 · block 128`, `lstm 2×128 · block 50`, `mlp 64 · block 16`,
    `bigram · block 64`; compact, without the name and the word: `3×4×128 · 128`."""
    name = model.get("model")
    L, H, C, T = (model.get(k) for k in ("n_layer", "n_head", "n_embd", "block_size"))
    dims: tuple[Any, ...] = ()
    if name == "gpt":
        dims = (L, H, C)
    elif name in ("rnn", "gru", "lstm"):
        dims = (L, C)
    elif name == "mlp":
        dims = (C,)
    shape = "×".join(map(str, dims)) if dims and all(map(is_int, dims)) else ""
    block = T if is_int(T) else None
    if compact:
        return f"{shape or '–'}" + (f" · {block}" if block is not None else "")
    head = " ".join(p for p in (str(name) if isinstance(name, str) else "?", shape) if p)
    return head + (f" · block {block}" if block is not None else "")


@dataclass(frozen=True)
class DeviceOption:
    """`--device` of the commands that run a model (sample, eval, inspect, compare)."""

    device: str = like(
        SPECS["device"],
        "auto",
        help="auto, cpu, cuda, cuda:N or mps (auto: a GPU if there is one).",
    )
