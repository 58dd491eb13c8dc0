"""Run configuration: model shape, training hyperparameters, presets, validation.

Every field maps to a CLI flag (`n_embd` -> `--n-embd`), so validation errors name
the flag the user has to change.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.errors import CharLMError

MODELS = ("bigram", "gpt", "mlp", "rnn", "gru", "lstm")  # zoo: mlp, rnn, gru, lstm
ACTIVATIONS = ("gelu", "relu2")
POSITIONS = ("learned", "rope")
OPTIMIZERS = ("adamw", "muon")


@dataclass
class ModelConfig:
    model: str = "gpt"
    vocab_size: int = 0  # filled from the corpus
    block_size: int = 256
    n_layer: int = 2
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = True
    activation: str = "gelu"  # the MLP's nonlinearity: gelu or relu2 (ReLU squared)
    position: str = "learned"  # learned absolute embeddings, or rope (rotary)


@dataclass
class TrainConfig:
    data: str = "shakespeare"
    val_fraction: float = 0.1
    encoding_errors: str = "strict"
    batch_size: int = 64
    max_iters: int | None = 2000
    time_budget: float | None = None  # seconds; replaces max_iters when set
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    optimizer: str = "adamw"  # or muon: orthogonalized updates for the blocks' matrices
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 disables clipping
    eval_interval: int = 250
    eval_iters: int = 20
    sample_interval: int = 500  # 0 disables samples during training
    sample_chars: int = 200
    log_interval: int = 10
    seed: int = 1337
    device: str = "auto"
    threads: int = 0  # 0: leave torch's default
    compile: bool = False  # torch.compile the model; falls back to eager if it cannot
    preset: str | None = None


# Presets fill both configs; explicit CLI options override them.
PRESETS: dict[str, dict[str, Any]] = {
    # Seconds on a laptop: for tests and trying things out.
    "tiny": dict(
        model="gpt",
        block_size=32,
        n_layer=1,
        n_head=2,
        n_embd=32,
        dropout=0.0,
        batch_size=16,
        max_iters=200,
        lr=3e-3,
        min_lr=3e-4,
        warmup_iters=10,
        eval_interval=50,
        eval_iters=5,
        sample_interval=100,
        sample_chars=80,
        log_interval=5,
    ),
    # The 3.7M-parameter model of the experiment log this product grew out of.
    "seed": dict(
        model="gpt",
        block_size=256,
        n_layer=2,
        n_head=6,
        n_embd=384,
        dropout=0.1,
        batch_size=64,
        max_iters=3000,
        lr=1e-3,
        min_lr=1e-4,
        warmup_iters=100,
        eval_interval=100,
        eval_iters=20,
        sample_interval=500,
    ),
    # nanoGPT's shakespeare_char configuration.
    "nanogpt-baby": dict(
        model="gpt",
        block_size=256,
        n_layer=6,
        n_head=6,
        n_embd=384,
        dropout=0.2,
        batch_size=64,
        max_iters=5000,
        lr=1e-3,
        min_lr=1e-4,
        warmup_iters=100,
        eval_interval=250,
        eval_iters=200,
        sample_interval=500,
    ),
    # Swept for 300 s on a 2-core CPU (BENCHMARKS.md): in a short budget, more updates of
    # a small model win (6 layers or width 192 see too few tokens to catch up); rotary
    # positions with ReLU squared learn faster per step than GPT-2's choices, and Muon
    # faster again than AdamW (1.58 -> 1.51 nats on the full val split in 300 s).
    "cpu": dict(
        model="gpt",
        block_size=128,
        n_layer=4,
        n_head=4,
        n_embd=128,
        dropout=0.0,
        position="rope",
        activation="relu2",
        batch_size=12,
        max_iters=None,
        time_budget=300.0,
        lr=3e-3,
        min_lr=3e-4,
        warmup_iters=50,
        weight_decay=0.1,
        optimizer="muon",
        eval_interval=200,
        eval_iters=10,
        sample_interval=600,
    ),
    # The count-table baseline of makemore.
    "bigram": dict(
        model="bigram",
        block_size=64,
        batch_size=64,
        max_iters=2000,
        lr=0.1,
        min_lr=0.01,
        warmup_iters=0,
        weight_decay=0.0,
        dropout=0.0,
        eval_interval=250,
        eval_iters=10,
        sample_interval=1000,
    ),
    # zoo: the model zoo's presets, each a few minutes on one laptop core. Step times
    # are forward, backward, clip and AdamW step at the preset's shape (V = 65), median
    # of 8, torch 2.13, one thread of a shared 2-core AVX2 machine (two threads there
    # were 3-200x slower: other jobs held the second core, and every small op's OpenMP
    # barrier waited for it).
    # Bengio et al. 2003's MLP as in makemore, 16 characters of context; 283k params
    # at V = 65; 16 ms/step: 6000 steps in ~1.6 min (a 15 s --time-budget run of this
    # shape reaches val 1.94 on tinyshakespeare).
    "mlp": dict(  # zoo
        model="mlp",
        block_size=16,
        n_embd=64,
        dropout=0.0,
        batch_size=64,
        max_iters=6000,
        lr=2e-3,
        min_lr=2e-4,
        warmup_iters=50,
        weight_decay=0.01,
        eval_interval=250,
        eval_iters=20,
        sample_interval=1000,
    ),
    # char-rnn's defaults (2 layers of 128, 50-character windows, batch 50, no dropout,
    # lr 2e-3) for each recurrent cell, so the three compare at one shape; 3000 steps.
    # 83k params, 16 ms/step: ~50 s.
    "rnn": dict(  # zoo
        model="rnn",
        block_size=50,
        n_layer=2,
        n_embd=128,
        dropout=0.0,
        batch_size=50,
        max_iters=3000,
        lr=2e-3,
        min_lr=2e-4,
        warmup_iters=50,
        weight_decay=0.0,
        eval_interval=250,
        eval_iters=20,
        sample_interval=1000,
    ),
    # 215k params, 50 ms/step: ~2.5 min.
    "gru": dict(  # zoo
        model="gru",
        block_size=50,
        n_layer=2,
        n_embd=128,
        dropout=0.0,
        batch_size=50,
        max_iters=3000,
        lr=2e-3,
        min_lr=2e-4,
        warmup_iters=50,
        weight_decay=0.0,
        eval_interval=250,
        eval_iters=20,
        sample_interval=1000,
    ),
    # 281k params, 50 ms/step: ~2.5 min (15 s: val 2.17).
    "lstm": dict(  # zoo
        model="lstm",
        block_size=50,
        n_layer=2,
        n_embd=128,
        dropout=0.0,
        batch_size=50,
        max_iters=3000,
        lr=2e-3,
        min_lr=2e-4,
        warmup_iters=50,
        weight_decay=0.0,
        eval_interval=250,
        eval_iters=20,
        sample_interval=1000,
    ),
}
DEFAULT_PRESET = "cpu"

MODEL_FIELDS = {f.name for f in fields(ModelConfig)}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
# Options that may change when a run is resumed: everything else is fixed by the run.
RESUMABLE_FIELDS = {
    "max_iters",
    "time_budget",
    "eval_interval",
    "eval_iters",
    "sample_interval",
    "sample_chars",
    "log_interval",
    "device",
    "threads",
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_configs(
    preset: str | None = None, overrides: dict[str, Any] | None = None
) -> tuple[ModelConfig, TrainConfig]:
    """Preset, then the explicit overrides (None values mean 'not given')."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise CharLMError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[name])
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(given) - MODEL_FIELDS - TRAIN_FIELDS
    if unknown:
        raise CharLMError(f"unknown option(s): {', '.join(sorted(map(flag, unknown)))}")
    if "time_budget" in given and "max_iters" not in given:
        values["max_iters"] = None
    if "max_iters" in given and "time_budget" not in given:
        values["time_budget"] = None
    values.update(given)
    values["preset"] = name
    mcfg = ModelConfig(**{k: v for k, v in values.items() if k in MODEL_FIELDS})
    tcfg = TrainConfig(**{k: v for k, v in values.items() if k in TRAIN_FIELDS})
    validate(mcfg, tcfg)
    return mcfg, tcfg


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        kind = "zero or more" if allow_zero else "greater than zero"
        raise CharLMError(f"{flag(name)} must be {kind}, not {value}")


def validate(mcfg: ModelConfig, tcfg: TrainConfig) -> None:
    if mcfg.model not in MODELS:
        raise CharLMError(f"unknown model {mcfg.model!r}: choose one of {', '.join(MODELS)}")
    for name in ("block_size", "n_layer", "n_head", "n_embd"):
        _positive(name, getattr(mcfg, name))
    if not 0.0 <= mcfg.dropout < 1.0:
        raise CharLMError(f"--dropout must be in [0, 1), not {mcfg.dropout}")
    if mcfg.model == "gpt" and mcfg.n_embd % mcfg.n_head:  # zoo: heads are GPT's alone
        raise CharLMError(f"--n-embd ({mcfg.n_embd}) must be divisible by --n-head ({mcfg.n_head})")
    if mcfg.activation not in ACTIVATIONS:
        raise CharLMError(
            f"--activation must be one of {', '.join(ACTIVATIONS)}, not {mcfg.activation!r}"
        )
    if mcfg.position not in POSITIONS:
        raise CharLMError(
            f"--position must be one of {', '.join(POSITIONS)}, not {mcfg.position!r}"
        )
    if mcfg.model == "gpt" and mcfg.position == "rope" and (mcfg.n_embd // mcfg.n_head) % 2:  # zoo
        raise CharLMError(
            f"--position rope needs an even head size; --n-embd / --n-head is "
            f"{mcfg.n_embd // mcfg.n_head}"
        )
    if tcfg.optimizer not in OPTIMIZERS:
        raise CharLMError(
            f"--optimizer must be one of {', '.join(OPTIMIZERS)}, not {tcfg.optimizer!r}"
        )
    for name in ("batch_size", "lr", "eval_interval", "eval_iters", "log_interval", "sample_chars"):
        _positive(name, getattr(tcfg, name))
    for name in (
        "min_lr",
        "warmup_iters",
        "weight_decay",
        "grad_clip",
        "sample_interval",
        "threads",
    ):
        _positive(name, getattr(tcfg, name), allow_zero=True)
    if tcfg.min_lr > tcfg.lr:
        raise CharLMError(f"--min-lr ({tcfg.min_lr}) must not exceed --lr ({tcfg.lr})")
    for name in ("beta1", "beta2"):
        if not 0.0 <= getattr(tcfg, name) < 1.0:
            raise CharLMError(f"{flag(name)} must be in [0, 1), not {getattr(tcfg, name)}")
    if not 0.0 < tcfg.val_fraction < 1.0:
        raise CharLMError(
            f"--val-fraction must be between 0 and 1 (exclusive), not {tcfg.val_fraction}"
        )
    if (tcfg.max_iters is None) == (tcfg.time_budget is None):
        raise CharLMError("give exactly one of --max-iters and --time-budget")
    if tcfg.max_iters is not None:
        _positive("max_iters", tcfg.max_iters)
    if tcfg.time_budget is not None:
        _positive("time_budget", tcfg.time_budget)
    if tcfg.device not in ("auto", "cpu", "cuda", "mps") and not tcfg.device.startswith("cuda:"):
        raise CharLMError(f"--device must be auto, cpu, cuda, cuda:N or mps, not {tcfg.device!r}")


def to_dict(mcfg: ModelConfig, tcfg: TrainConfig) -> dict[str, Any]:
    return {"model": asdict(mcfg), "train": asdict(tcfg)}


def from_dict(d: Any, where: str = "config") -> tuple[ModelConfig, TrainConfig]:
    """Inverse of to_dict, with a clear error for anything foreign."""
    try:
        m, t = d["model"], d["train"]
        return ModelConfig(**m), TrainConfig(**t)
    except (KeyError, TypeError) as e:
        raise CharLMError(f"{where} is not a charlm-tui configuration ({e})") from None


def replace(cfg: Any, **changes: Any) -> Any:
    return dataclasses.replace(cfg, **changes)
