"""Full-split scores: a checkpoint on every position of its val split, cached in the run.

During training, each eval scores a fixed sample of `--eval-iters` batches per split
(metrics.jsonl): an estimate. `charlm-tui eval RUN` scores every position of a split
instead; compare's `e`, `compare --full-eval` and every ladder rung keep that result
in `<run>/eval.json`, keyed to the checkpoint file it scored (its size and mtime), so
a resume that saves a new best.pt makes it stale instead of wrong. The run view
(core/runs/view.py) shows the full-split number once there is one, the estimate
until then, and says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from charlm_tui.core.config import SPECS, EncodingErrors
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_text
from charlm_tui.core.options import Range, like, option
from charlm_tui.core.runs.records import dump_json, read_json
from charlm_tui.core.runs.rundir import FULL_EVAL, resolve_in_run
from charlm_tui.core.values import as_finite, as_int

if TYPE_CHECKING:  # decoding imports torch: only where a score is computed
    from charlm_tui.core.measures import Metrics


def file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class FullEval:
    """One checkpoint scored on every position of a split, and which file it was."""

    checkpoint: str  # best.pt or last.pt
    iter: int
    split: str
    data: str
    loss: float
    top1: float
    top5: float
    positions: int
    size: int  # the checkpoint file's size and mtime when it was scored: if either
    mtime_ns: int  # changed (a resume saved a new best.pt), the result is stale

    @property
    def bpc(self) -> float:
        return self.loss / math.log(2)


Split = Literal["val", "train"]


@dataclass(frozen=True)
class ScoreOptions:
    """How a checkpoint is scored on every position of a split: `eval`'s options; the
    full-split scores of compare and the ladder take the defaults."""

    data: str | None = like(
        SPECS["data"], None, help="Corpus to score (default: the one it was trained on)."
    )
    split: Split = option("val", "Which split to score.", "data")
    batch_size: int = option(32, "Windows per forward pass.", "system", range=Range(1, 4096))
    encoding_errors: EncodingErrors | None = like(
        SPECS["encoding_errors"],
        None,
        help="Invalid UTF-8: refuse, or U+FFFD (default: as the run read it).",
    )


def evaluate_checkpoint(
    path: Path,
    options: ScoreOptions | None = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Metrics, dict[str, Any], str]:
    """Score a checkpoint file on every position of a split of its corpus (or another):
    (metrics, the checkpoint, the corpus spec). `charlm-tui eval` prints exactly this.
    The corpus is read as the run read it (its --encoding-errors, unless given, and its
    --keep-crlf), so the split is the one it trained and validated on."""
    from charlm_tui.core.config import from_dict
    from charlm_tui.core.decoding.evaluate import evaluate_split
    from charlm_tui.core.device import resolve_device
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.text.corpus import load_corpus
    from charlm_tui.core.text.dataset import make_dataset

    o = options or ScoreOptions()
    dev = resolve_device(device)
    model, vocab, ckpt = load_model(path)
    mcfg, tcfg = from_dict(ckpt["config"], str(path))
    corpus = load_corpus(o.data or tcfg.data, o.encoding_errors or tcfg.encoding_errors,
                         tcfg.keep_crlf)  # fmt: skip
    vocab.check(corpus.chars, f"the corpus {corpus.spec!r}")
    dataset = make_dataset(corpus, tcfg.val_fraction, vocab=vocab)
    part = dataset.split(o.split)
    if len(part) < 2:
        raise CharLMError(f"the {o.split} split of {corpus.spec!r} has fewer than 2 characters")
    model.to(dev)
    metrics = evaluate_split(model, part, mcfg.block_size, o.batch_size, dev, progress=progress)
    return metrics, ckpt, corpus.spec


def scored_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint a row's full-split numbers are of: the one a run directory stands
    for (core/runs/rundir.py resolve_in_run: best.pt, else last.pt), or None."""
    try:
        return resolve_in_run(run_dir)
    except CharLMError:
        return None


def read_full_eval(run_dir: Path, split: str = "val") -> FullEval | None:
    """The cached full-split result for the run's current best.pt (else last.pt), if it
    is still that file's; eval.json may come from anyone, so every field is checked."""
    ckpt = scored_checkpoint(run_dir)
    key = file_key(ckpt) if ckpt is not None else None
    if ckpt is None or key is None:
        return None
    raw = read_json(run_dir / FULL_EVAL)
    entries = raw.get("evals") if isinstance(raw, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        got = _full_eval(entry)
        if (
            got is not None
            and got.checkpoint == ckpt.name
            and got.split == split
            and (got.mtime_ns, got.size) == key
        ):
            return got
    return None


def _full_eval(entry: Any) -> FullEval | None:
    if not isinstance(entry, dict):
        return None
    strings = [entry.get(k) for k in ("checkpoint", "split", "data")]
    ints = [as_int(entry.get(k)) for k in ("iter", "positions", "size", "mtime_ns")]
    nums = [as_finite(entry.get(k)) for k in ("loss", "top1", "top5")]
    if not all(isinstance(s, str) for s in strings) or None in ints or None in nums:
        return None
    checkpoint, split, data = strings
    it, positions, size, mtime_ns = ints
    loss, top1, top5 = nums
    return FullEval(checkpoint, it, split, data, loss, top1, top5, positions, size, mtime_ns)  # type: ignore[arg-type]


def full_eval(
    run_dir: Path,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    uncached: Callable[[str], None] | None = None,
) -> FullEval:
    """best.pt (else last.pt) on every position of the val split, cached in eval.json.
    Where eval.json cannot be written (a read-only run), `uncached` is told why and the
    score is returned all the same; without it, that is a CharLMError."""
    cached = read_full_eval(run_dir)
    if cached is not None:
        return cached
    ckpt_path = scored_checkpoint(run_dir)
    if ckpt_path is None:
        raise CharLMError(f"{run_dir} holds no checkpoint (best.pt or last.pt) to evaluate")
    key = file_key(ckpt_path)
    metrics, ckpt, spec = evaluate_checkpoint(ckpt_path, device=device, progress=progress)
    if key is None or file_key(ckpt_path) != key:
        # A training replaced the file while we read it: score the new one next time.
        raise CharLMError(f"{ckpt_path} changed while it was being evaluated: try again")
    result = FullEval(
        ckpt_path.name,
        as_int(ckpt["iter"]) or 0,
        "val",
        spec,
        metrics.loss,
        metrics.top1,
        metrics.top5,
        metrics.n_tokens,
        key[1],
        key[0],
    )
    try:
        _store_full_eval(run_dir, result)
    except CharLMError as e:
        if uncached is None:
            raise
        uncached(str(e))
    return result


def _store_full_eval(run_dir: Path, result: FullEval) -> None:
    raw = read_json(run_dir / FULL_EVAL)
    old = raw.get("evals", []) if isinstance(raw, dict) else []
    keep = [
        e
        for e in (old if isinstance(old, list) else [])
        if (got := _full_eval(e)) is not None
        and (got.checkpoint, got.split) != (result.checkpoint, result.split)
    ]
    body = {"evals": [*keep, {**asdict(result), "bpc": result.bpc}]}
    try:
        atomic_write_text(run_dir / FULL_EVAL, dump_json(body, indent=2) + "\n")
    except OSError as e:
        raise CharLMError(f"cannot write {run_dir / FULL_EVAL}: {e.strerror or e}") from None
