"""Planning a run: what `train` will do, checked before anything is built or written.

A plan is the configs, the run directory and whether it starts, replaces or resumes a
run. Making one touches no torch global (threads, seeds, process groups) and builds no
model, so the dashboard can check a run cheaply, then hand the plan to a training child
as a command line (`argv`); the process that trains turns it into a trainer
(core/training/trainer.py `build`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from charlm_tui.core import paths
from charlm_tui.core.config import (
    RESUMABLE,
    SPECS,
    ModelConfig,
    RunLength,
    TrainConfig,
    build_configs,
    configs_from_values,
    from_dict,
    merge,
    option_args,
    to_argv,
    values_of,
)
from charlm_tui.core.config_file import read_config_file
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import build, flag, option, specs
from charlm_tui.core.runs.labels import Labels
from charlm_tui.core.runs.rundir import (
    CHECKPOINT_KINDS,
    LADDER,
    checkpoint_name,
    is_run_dir,
    read_config,
)
from charlm_tui.core.text.corpora import BUILTINS
from charlm_tui.core.text.corpus import Corpus, check_split_length, load_corpus, split_point
from charlm_tui.core.text.display import char_label
from charlm_tui.core.values import is_number

ResumeFrom = Literal["last", "best"]
NAME_MAX = 255  # bytes in one path component on the filesystems we meet


def check_run_name(name: str, what: str = "--name") -> str:
    """A run name is one plain folder name: the same rule for the CLI and the form."""
    stripped = name.strip()
    if not stripped or stripped in (".", "..") or "/" in stripped or "\\" in stripped:
        raise CharLMError(f"{what} must be a plain folder name, not {name!r}")
    if any(not ch.isprintable() for ch in stripped):
        raise CharLMError(f"{what} must not hold control characters: {name!r}")
    if len(stripped.encode("utf-8", errors="surrogatepass")) > NAME_MAX:
        raise CharLMError(f"{what} is longer than {NAME_MAX} bytes")
    return stripped


def check_path_length(path: Path, what: str) -> None:
    for part in path.parts:
        if len(part.encode("utf-8", errors="surrogatepass")) > NAME_MAX:
            raise CharLMError(f"{what}: the name {part[:40]!r}… is longer than {NAME_MAX} bytes")


def default_run_name(mcfg: ModelConfig, tcfg: TrainConfig) -> str:
    return f"{tcfg.preset}-{mcfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class RunPlan:
    mcfg: ModelConfig
    tcfg: TrainConfig
    run_dir: Path
    resume_from: ResumeFrom | None = None  # None: a new run
    overwrite: bool = False
    changed: dict[str, Any] = field(default_factory=dict)  # resume: the options given
    start_iter: int = 0
    vocab: str | None = None  # resume: the run's vocabulary
    corpus_sha256: str | None = None  # resume: the hash of the text it trained on
    allow_data_change: bool = False  # resume on a corpus whose hash differs
    start_elapsed_s: float = 0.0  # resume: the training time the checkpoint had behind it
    # --tag and --notes (a resume without them keeps the run's own)
    labels: Labels = field(default_factory=Labels)
    command: tuple[str, ...] = ()  # the command line that asked for it (provenance.json)

    @property
    def resuming(self) -> bool:
        return self.resume_from is not None

    @property
    def length(self) -> RunLength:
        return RunLength(self.tcfg.max_iters, self.tcfg.time_budget)

    def check_left_to_train(self) -> None:
        """A resume asked for has something to train: a finished run says how to extend
        it instead of appending an empty start and done to its records."""
        if self.resuming and self.length.finished(self.start_iter, self.start_elapsed_s):
            longer = flag("time_budget" if self.length.by_time else "max_iters")
            raise CharLMError(
                f"{self.run_dir} already trained its {self.length.describe()} (iter "
                f"{self.start_iter:,}): nothing is left to train; pass a longer {longer} "
                "with --resume to extend it"
            )

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / checkpoint_name(self.resume_from or "last")

    def argv(self) -> list[str]:
        """Options of `charlm-tui --no-ui train` that carry out exactly this plan."""
        out = ["--out", str(self.run_dir)]
        out += [a for name, v in vars(self.labels).items() for a in option_args(name, v or None)]
        if self.resume_from is not None:
            values = values_of(self.mcfg, self.tcfg)
            changed = [a for name in self.changed for a in option_args(name, values[name])]
            allow = ["--allow-data-change"] if self.allow_data_change else []
            return [*out, "--resume", "--resume-from", self.resume_from, *changed, *allow]
        return out + to_argv(self.mcfg, self.tcfg) + (["--overwrite"] if self.overwrite else [])


@dataclass(frozen=True)
class Placement:
    """Where `train` puts a run, and whether it starts, replaces or resumes one."""

    out: Path | None = option(
        None, "Run directory (default: checkpoints/<name>).", "run", metavar="DIR"
    )
    name: str | None = option(
        None, "Run name under checkpoints/ (default: <preset>-<model>-<time>).", "run"
    )
    resume: bool = option(
        False,
        "Continue the run in --out / --name; only the resumable options may change: "
        + ", ".join(flag(n) for n in sorted(RESUMABLE))
        + ".",
        "run",
    )
    resume_from: ResumeFrom = option("last", "Resume from its last or best checkpoint.", "run")
    allow_data_change: bool = option(
        False,
        "With --resume: continue although the corpus changed since the run trained on it "
        "(refused by default).",
        "run",
    )
    overwrite: bool = option(False, "Replace the run already in --out.", "run")

    def check(self) -> None:
        if self.out is not None and self.name is not None:
            raise CharLMError("give --out or --name, not both")
        if self.resume and self.overwrite:
            raise CharLMError("--resume and --overwrite contradict each other: choose one")
        if self.resume and self.out is None and self.name is None:
            raise CharLMError("--resume needs the run to continue: pass --out DIR or --name NAME")
        if self.allow_data_change and not self.resume:
            raise CharLMError("--allow-data-change goes with --resume: a new run has no old data")


@dataclass(frozen=True)
class Start:
    """What a run's options start from before the flags: a TOML file, an earlier run."""

    config: Path | None = option(
        None,
        'A TOML file of options, their names as keys (n_layer = 4, tag = ["a"]); flags '
        "given override it. `charlm-tui config RUN` writes one.",
        "run",
        metavar="FILE",
    )
    from_run: Path | None = option(
        None,
        "Start a new run from this run's configuration (its config.json, as steered); the "
        "file of --config and the flags given override it.",
        "run",
        metavar="RUN",
        cli_name="from",
    )


def run_values(run_dir: Path, what: str = "--from") -> dict[str, Any]:
    """An earlier run's options, from its config.json (checked as a checkpoint's is);
    `what` names the argument in errors."""
    config = read_config(run_dir)
    if config is None:
        ladder = (run_dir / LADDER).is_file()
        rungs = " (a ladder: name one of its rungs, RUN/<rung>)" if ladder else ""
        raise CharLMError(f"{what} {run_dir}: no charlm-tui config.json there{rungs}")
    mcfg, tcfg = from_dict(config, f"{what} {run_dir / 'config.json'}")
    return {k: v for k, v in values_of(mcfg, tcfg).items() if SPECS[k].cli}


def started(start: Start, given: dict[str, Any], labels: Labels) -> tuple[dict[str, Any], Labels]:
    """The options and labels of a run: an earlier run's (--from), then a file's
    (--config), then the flags given. A length given as a flag replaces the other one."""
    values: dict[str, Any] = {}
    file_labels: dict[str, Any] = {}
    data_from = ""  # which argument the corpus came from, when not from --data
    if start.from_run is not None:
        values = run_values(start.from_run)
        data_from = f"--from {start.from_run}"
    if start.config is not None:
        allowed = {**{n: s for n, s in SPECS.items() if s.cli}, **specs(Labels)}
        read = read_config_file(start.config, allowed, hints=FLAG_ONLY)
        file_labels = {k: read.pop(k) for k in specs(Labels) if k in read}
        values = merge(values, read)  # a length in the file replaces the run's other one
        data_from = f"--config {start.config}" if "data" in read else data_from
    if "data" not in given and data_from:
        _check_relative_corpus(values["data"], data_from)
    given_labels = {k: v for k, v in vars(labels).items() if v}
    return merge(values, given), build(Labels, {**file_labels, **given_labels}).normalised()


# Flags a --config file cannot hold: where a run goes and how it starts are the command's.
FLAG_ONLY = ("out", "name", "resume", "resume_from", "overwrite", "allow_data_change", "config",
             "from")  # fmt: skip


def _check_relative_corpus(data: str, source: str) -> None:
    """A corpus path from a file or a run is relative to where that run trained, not to
    here: say so rather than "no such file"."""
    if data in BUILTINS or Path(data).is_absolute() or Path(data).expanduser().exists():
        return
    raise CharLMError(
        f"{source}: its corpus {data!r} is not found from here (a relative path is read from "
        "the current folder): pass --data with the path from here"
    )


def plan_from(
    given: dict[str, Any],
    where: Placement,
    start: Start | None = None,
    labels: Labels | None = None,
) -> RunPlan:
    """The run `train` was asked for: the options given on top of what it starts from
    (a run, a file; the preset fills in the rest), where it goes, and its labels."""
    start = start or Start()
    if start.from_run is not None and where.resume:
        raise CharLMError(
            "--from starts a new run; to continue one, give --resume with --out or --name"
        )
    given, labels = started(start, given, labels or Labels())
    return dataclasses.replace(_plan_from(given, where), labels=labels)


def _plan_from(given: dict[str, Any], where: Placement) -> RunPlan:
    overrides = dict(given)
    preset = overrides.pop("preset", None)
    if not where.resume:
        return plan_new(preset, overrides, where.out, where.name, where.overwrite)
    out = where.out or paths.runs_dir() / check_run_name(str(where.name))
    plan = plan_resume(
        out, where.resume_from, {**overrides, "preset": preset}, where.allow_data_change
    )
    plan.check_left_to_train()
    return plan


def _check_out(run_dir: Path) -> None:
    check_path_length(run_dir, "--out")
    if run_dir.exists() and not run_dir.is_dir():
        raise CharLMError(f"--out {run_dir} exists and is not a directory")


def plan_new(
    preset: str | None,
    overrides: dict[str, Any],
    out: Path | None = None,
    name: str | None = None,
    overwrite: bool = False,
    runs_dir: Path | None = None,
) -> RunPlan:
    """A new run (or one replacing the run in --out with overwrite)."""
    if out is not None and name is not None:
        raise CharLMError("give --out or --name, not both")
    mcfg, tcfg = build_configs(preset, overrides)
    if name is not None:
        name = check_run_name(name)
    run_dir = (
        out
        if out is not None
        else (runs_dir or paths.runs_dir()) / (name or default_run_name(mcfg, tcfg))
    )
    _check_out(run_dir)
    if is_run_dir(run_dir):
        if not overwrite:
            raise CharLMError(
                f"{run_dir} already holds a run: pass --resume to continue it, --overwrite "
                "to replace it, or choose another --out / --name"
            )
        if read_config(run_dir) is None:
            raise CharLMError(
                f"--overwrite refused: {run_dir} is not a charlm-tui run (no config.json of "
                "ours); nothing was deleted: choose another --out"
            )
    _check_not_a_runs_root(run_dir)
    return RunPlan(mcfg, tcfg, run_dir, overwrite=overwrite)


def _check_not_a_runs_root(run_dir: Path) -> None:
    """--out checkpoints (the folder of runs itself) would hide every run in it."""
    if run_dir.is_dir():
        with os.scandir(run_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and is_run_dir(Path(entry.path)):
                    raise CharLMError(
                        f"--out {run_dir} holds other runs ({entry.name}, ...): a run needs a "
                        "folder of its own, e.g. --out "
                        f"{run_dir}/NAME"
                    )


def plan_resume(
    run_dir: Path,
    resume_from: ResumeFrom = "last",
    changed: dict[str, Any] | None = None,
    allow_data_change: bool = False,
) -> RunPlan:
    """Continue the run in run_dir from its last (or best) checkpoint. Only options in
    RESUMABLE may differ from the run's own; giving one of them overrides it."""
    from charlm_tui.core.models.checkpoint import (
        load_checkpoint,  # torch.load: reads the file, builds nothing
    )

    _check_out(run_dir)
    if resume_from not in CHECKPOINT_KINDS:
        raise CharLMError(f"--resume-from must be 'last' or 'best', not {resume_from!r}")
    path = run_dir / checkpoint_name(resume_from)
    if not run_dir.is_dir() or not any(
        (run_dir / checkpoint_name(k)).is_file() for k in CHECKPOINT_KINDS
    ):
        raise CharLMError(f"nothing to resume: {run_dir} has no last.pt or best.pt")
    ckpt = load_checkpoint(path)
    mcfg, tcfg = from_dict(ckpt["config"], str(path))
    given = {k: v for k, v in (changed or {}).items() if v is not None}
    saved = values_of(mcfg, tcfg)
    for name, value in given.items():
        if name not in RESUMABLE and value != saved.get(name):
            raise CharLMError(
                f"{flag(name)} cannot change when resuming (the run has {saved.get(name)!r}); "
                "start a new run instead"
            )
    resumable = {k: v for k, v in given.items() if k in RESUMABLE}
    mcfg, tcfg = configs_from_values(merge(saved, resumable))
    vocab = ckpt.get("vocab")
    it, elapsed = ckpt.get("iter"), ckpt.get("elapsed_s")
    corpus = ckpt.get("corpus") if isinstance(ckpt.get("corpus"), dict) else {}
    sha = corpus.get("sha256")
    return RunPlan(
        mcfg,
        tcfg,
        run_dir,
        resume_from=resume_from,
        changed=resumable,
        start_iter=it if isinstance(it, int) else 0,
        vocab=vocab if isinstance(vocab, str) else None,
        corpus_sha256=sha if isinstance(sha, str) else None,
        allow_data_change=allow_data_change,
        start_elapsed_s=float(elapsed) if is_number(elapsed) and elapsed >= 0 else 0.0,
    )


def check_corpus(plan: RunPlan) -> Corpus:
    """Check what only the machine and the data can say, and load the corpus text: the
    threads and memory the run asks for, both splits longer than the context, and
    (resuming) the same text it trained on. Returned so the process that trains need
    not read it again."""
    from charlm_tui.core.device import check_threads  # torch: not for `train --help`

    t = plan.tcfg
    if t.threads:
        check_threads(t.threads)
    check_memory(plan.mcfg, t)
    if t.data not in BUILTINS:
        check_path_length(Path(t.data), "--data")
    corpus = load_corpus(t.data, t.encoding_errors, t.keep_crlf)
    n = corpus.n_chars
    cut = split_point(n, t.val_fraction)
    check_split_length(cut, "train", plan.mcfg.block_size)
    check_split_length(n - cut, "val", plan.mcfg.block_size)
    check_resumed_corpus(plan, corpus)
    vocab = plan.vocab if plan.vocab is not None else corpus.chars
    if t.sample_prompt and (unseen := sorted(set(t.sample_prompt) - set(vocab))):
        raise CharLMError(
            "--sample-prompt holds characters the model cannot see (not in the corpus): "
            + ", ".join(char_label(ch) for ch in unseen[:10])
        )
    return corpus


def check_resumed_corpus(plan: RunPlan, corpus: Corpus) -> None:
    """A resume trains on the text it trained on (unless --allow-data-change), and on no
    character outside its vocabulary."""
    t = plan.tcfg
    changed = plan.corpus_sha256 and corpus.sha256 != plan.corpus_sha256
    if plan.resuming and changed and not plan.allow_data_change:
        raise CharLMError(
            f"the corpus {t.data!r} changed since this run trained on it (sha256 "
            f"{plan.corpus_sha256[:12]}… then, {corpus.sha256[:12]}… now): resuming "
            "would train on other data; pass --allow-data-change to do it anyway"
        )
    if plan.vocab is not None:
        from charlm_tui.core.text.vocab import Vocab

        Vocab(plan.vocab).check(corpus.chars, f"the corpus {t.data!r}")


def replanned(plan: RunPlan) -> RunPlan:
    """A resume planned again from the checkpoint as it is now: what it starts from is
    read under the run's lock (core/training/trainer.py), not when the command began,
    so a training that was ending in the folder meanwhile is continued, not undone."""
    if not plan.resuming:
        return plan
    assert plan.resume_from is not None
    again = plan_resume(plan.run_dir, plan.resume_from, plan.changed, plan.allow_data_change)
    return dataclasses.replace(again, labels=plan.labels, command=plan.command)


def estimate_memory(mcfg: ModelConfig, tcfg: TrainConfig, vocab_size: int = 256) -> int:
    """Bytes a training step needs, roughly and on the low side: weights, gradients and
    two optimizer moments (4 copies of the parameters), plus activations kept for the
    backward pass (~20 floats per position per layer and width, and the logits)."""
    C, L, T, B = mcfg.n_embd, mcfg.n_layer, mcfg.block_size, tcfg.batch_size
    params = vocab_size * C * 2 + T * C + L * 12 * C * C
    activations = B * T * (L * 20 * C + 2 * vocab_size)
    if mcfg.model == "gpt":
        activations += B * T * T * mcfg.n_head * L  # attention probabilities (math path)
    return 4 * (4 * params + activations)


def check_memory(mcfg: ModelConfig, tcfg: TrainConfig) -> None:
    total = _total_memory()
    need = estimate_memory(mcfg, tcfg)
    if total and need > total:
        raise CharLMError(
            f"this run needs ~{need / 2**30:.1f} GiB for one training step and this machine "
            f"has {total / 2**30:.1f} GiB: lower --batch-size, --block-size, --n-embd or "
            "--n-layer"
        )


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
