"""Comparing runs: each run's records as one row of a table and as curves for a chart.

Everything here is read from what a run wrote (config.json, metrics.jsonl, eval.json),
through the typed reader (core/runs/records.py), so a run still training compares too and
grows as it goes (`RunRecords.update`). Nothing here draws: the compare screen, the
dashboard's chart and `charlm-tui compare --format ...` all format these rows.

Which validation numbers a row shows
------------------------------------
During training, each eval scores a fixed sample of `--eval-iters` batches per split
(metrics.jsonl); `best.pt` is the checkpoint of the lowest such estimate. A row's val
loss, bits/char, top-1 and top-5 are those of `best.pt` on EVERY position of the val
split (exactly what `charlm-tui eval RUN` prints) once that has been computed and cached
in `<run>/eval.json` (`compare --full-eval`, the compare screen's `e`, every ladder
rung); until then, the best eval-batch estimate, marked as such (`val_source`). The
train loss, and the gap, are the estimates of that same best eval: a full pass over a
training split costs ten times the val split's.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from charlm_tui.core.decoding.evaluate import Metrics
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_text
from charlm_tui.core.runs.events import (
    DoneEvent,
    EvalEvent,
    Event,
    StartEvent,
    SteerEvent,
    StepEvent,
)
from charlm_tui.core.runs.listing import ladder_rungs
from charlm_tui.core.runs.records import JsonlTail, dump_json, read_json
from charlm_tui.core.runs.rundir import (
    FULL_EVAL,
    METRICS,
    RunLock,
    config_section,
    is_run_dir,
    read_config,
    resolve_in_run,
)
from charlm_tui.core.text.display import visible_line

XAxis = Literal["iter", "chars", "seconds"]
X_AXES: tuple[XAxis, ...] = ("iter", "chars", "seconds")
X_LABELS = {"iter": "iteration", "chars": "characters seen", "seconds": "training seconds"}
Format = Literal["table", "markdown", "csv", "json"]
# What a chart can plot: eval losses (val, train) and what every logged step records.
CurveName = Literal["val", "train", "loss", "lr", "grad_norm", "tokens_per_s"]
VAL_NOTE = (
    "val: best.pt scored on every position of the val split (as `charlm-tui eval`); "
    "~ marks the best eval-batch estimate from metrics.jsonl instead (not yet scored: "
    "`charlm-tui compare --full-eval`). train loss and gap (val - train): the eval-batch "
    "estimates of best.pt's eval."
)


# -- one run, read incrementally --------------------------------------------------------------


class RunRecords:
    """The records of one run directory, read as the run grows (complete lines only)."""

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = path
        self.label = label or path.name
        self.config: dict[str, Any] = {}
        self._tail = JsonlTail(path / METRICS)
        self._reset()
        self.full: FullEval | None = None
        self._full_key: tuple[Any, Any] | None = None

    def _reset(self) -> None:
        self.start: StartEvent | None = None
        self.steps: list[StepEvent] = []
        self.evals: list[EvalEvent] = []
        self.steers: list[SteerEvent] = []  # hyperparameters changed while it trained
        self.done: DoneEvent | None = None

    @property
    def error(self) -> str | None:
        return self._tail.error

    def update(self) -> bool:
        """Read what was appended since the last call; True if anything changed."""
        events, reset = self._tail.read()
        if reset:  # a resume rewrote metrics.jsonl: read it again from its start
            self._tail = JsonlTail(self.path / METRICS)
            self._reset()
            events, _ = self._tail.read()
        changed = bool(events) or reset
        if changed or not self.config:
            self.config = read_config(self.path) or {}
        for event in events:
            self._apply(event)
        # eval.json holds the score of one best.pt: a new score or a new best.pt (a run
        # still training) means reading it again
        ckpt = scored_checkpoint(self.path)
        key = (_file_key(self.path / FULL_EVAL), _file_key(ckpt) if ckpt else None)
        if key != self._full_key:
            self._full_key = key
            self.full = read_full_eval(self.path)
            changed = True
        return changed

    def _apply(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self.steps.append(event)
        elif isinstance(event, EvalEvent):
            self.evals.append(event)
        elif isinstance(event, SteerEvent):
            self.steers.append(event)
        elif isinstance(event, StartEvent):
            if event.resumed:  # the files dropped what came after the resume point
                self.steps = [s for s in self.steps if s.iter <= event.iter]
                self.evals = [e for e in self.evals if e.iter <= event.iter]
            self.start, self.done = event, None
        elif isinstance(event, DoneEvent):
            self.done = event

    # -- what the run is -------------------------------------------------------------------

    @property
    def model(self) -> dict[str, Any]:
        return config_section(self.config, "model")

    @property
    def train(self) -> dict[str, Any]:
        return config_section(self.config, "train")

    @property
    def status(self) -> str:
        if self.done is not None:
            return self.done.reason
        if self.start is None:
            return "new"
        return "running" if RunLock.held(self.path) else "killed"

    @property
    def iter(self) -> int:
        last = (self.steps[-1:], self.evals[-1:], [self.done] if self.done else [])
        return max((e.iter for events in last for e in events), default=0)

    @property
    def seconds(self) -> float | None:
        """Training seconds so far (pauses excluded; evals included, as the budget counts)."""
        if self.done is not None:
            return self.done.elapsed_s
        times = [e.elapsed_s for e in (*self.steps[-1:], *self.evals[-1:])]
        return max(times) if times else None

    @property
    def best_eval(self) -> EvalEvent | None:
        """The eval whose val estimate was lowest: the one best.pt was saved at."""
        scored = [e for e in self.evals if math.isfinite(e.val.loss)]
        return min(scored, key=lambda e: (e.val.loss, e.iter)) if scored else None

    @property
    def chars_per_iter(self) -> int | None:
        world = self.start.world_size if self.start is not None else 1
        return chars_per_iter(self.config, world)

    def curve(self, name: CurveName, axis: XAxis) -> tuple[list[float], list[float]]:
        return curve(self.steps, self.evals, name, axis, self.chars_per_iter)

    def steer_marks(self, axis: XAxis) -> list[float]:
        """Where on `axis` this run's hyperparameters were steered."""
        marks = (x_of_iter(e.iter, self.steps, axis, self.chars_per_iter) for e in self.steers)
        return [x for x in marks if x is not None]


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def chars_per_iter(config: dict[str, Any], world_size: int = 1) -> int | None:
    """Characters one optimizer step trains on: batch x block x processes."""
    model, train = config.get("model"), config.get("train")
    if not isinstance(model, dict) or not isinstance(train, dict):
        return None
    batch, block = _int(train.get("batch_size")), _int(model.get("block_size"))
    if batch is None or block is None:
        return None
    return batch * block * max(1, world_size)


# -- curves -------------------------------------------------------------------------------------


def x_of(event: StepEvent | EvalEvent, axis: XAxis, per_iter: int | None) -> float | None:
    if axis == "iter":
        return float(event.iter)
    if axis == "chars":
        return float(event.iter * per_iter) if per_iter is not None else None
    return event.elapsed_s if math.isfinite(event.elapsed_s) else None


def x_of_iter(
    it: int, steps: Sequence[StepEvent], axis: XAxis, per_iter: int | None
) -> float | None:
    """Where iteration `it` sits on an x axis (a steering marker): on the seconds axis,
    the training time of the step record nearest it."""
    if axis == "iter":
        return float(it)
    if axis == "chars":
        return float(it * per_iter) if per_iter is not None else None
    near = min(steps, key=lambda s: abs(s.iter - it), default=None)
    return near.elapsed_s if near is not None and math.isfinite(near.elapsed_s) else None


def curve(
    steps: Sequence[StepEvent],
    evals: Sequence[EvalEvent],
    name: CurveName,
    axis: XAxis,
    per_iter: int | None,
) -> tuple[list[float], list[float]]:
    """(xs, ys) of one quantity against one x axis; non-finite values are left out."""
    xs, ys = [], []
    if name in ("val", "train"):
        for e in evals:
            x, y = x_of(e, axis, per_iter), (e.val if name == "val" else e.train).loss
            if x is not None and math.isfinite(y):
                xs.append(x)
                ys.append(y)
    else:
        for s in steps:
            x, y = x_of(s, axis, per_iter), getattr(s, name)
            if x is not None and math.isfinite(y):
                xs.append(x)
                ys.append(y)
    return xs, ys


def ema(ys: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing: weight 0 is the raw curve;
    early points are not dragged towards zero (the average is divided by 1 - weight^n)."""
    if weight <= 0:
        return list(ys)
    out, last = [], 0.0
    for n, y in enumerate(ys, 1):
        last = last * weight + (1 - weight) * y
        out.append(last / (1 - weight**n))
    return out


def value_at(xs: Sequence[float], ys: Sequence[float], x: float) -> float | None:
    """The curve's value at x, linearly interpolated; None outside its range."""
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    lo, hi = 0, len(xs) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    if xs[hi] == xs[lo] or x <= xs[lo]:
        return ys[lo] if x <= xs[lo] else ys[hi]
    t = (x - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + t * (ys[hi] - ys[lo])


# -- full-split evaluation, cached in the run ---------------------------------------------------


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


def evaluate_checkpoint(
    path: Path,
    data: str | None = None,
    split: str = "val",
    batch_size: int = 32,
    device: str = "auto",
    encoding_errors: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Metrics, dict[str, Any], str]:
    """Score a checkpoint on every position of a split of its corpus (or `data`):
    (metrics, the checkpoint, the corpus spec). `charlm-tui eval` prints exactly this.
    The corpus is read as the run read it (its --encoding-errors, unless given, and its
    --keep-crlf), so the split is the one it trained and validated on."""
    from charlm_tui.core.config import from_dict
    from charlm_tui.core.decoding.evaluate import evaluate_split
    from charlm_tui.core.device import resolve_device
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.text.dataset import load_corpus, make_dataset

    dev = resolve_device(device)
    model, vocab, ckpt = load_model(path)
    mcfg, tcfg = from_dict(ckpt["config"], str(path))
    corpus = load_corpus(data or tcfg.data, encoding_errors or tcfg.encoding_errors, tcfg.keep_crlf)
    vocab.check(corpus.text, f"the corpus {corpus.spec!r}")
    dataset = make_dataset(corpus, tcfg.val_fraction, vocab=vocab)
    part = dataset.split(split)
    if len(part) < 2:
        raise CharLMError(f"the {split} split of {corpus.spec!r} has fewer than 2 characters")
    model.to(dev)
    metrics = evaluate_split(model, part, mcfg.block_size, batch_size, dev, progress=progress)
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
    key = _file_key(ckpt) if ckpt is not None else None
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
    ints = [_int(entry.get(k)) for k in ("iter", "positions", "size", "mtime_ns")]
    nums = [_num(entry.get(k)) for k in ("loss", "top1", "top5")]
    if not all(isinstance(s, str) for s in strings) or None in ints or None in nums:
        return None
    checkpoint, split, data = strings
    it, positions, size, mtime_ns = ints
    loss, top1, top5 = nums
    return FullEval(checkpoint, it, split, data, loss, top1, top5, positions, size, mtime_ns)  # type: ignore[arg-type]


def full_eval(
    run_dir: Path,
    device: str = "auto",
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> FullEval:
    """best.pt (else last.pt) on every position of the val split, cached in eval.json."""
    cached = read_full_eval(run_dir)
    if cached is not None:
        return cached
    ckpt_path = scored_checkpoint(run_dir)
    if ckpt_path is None:
        raise CharLMError(f"{run_dir} holds no checkpoint (best.pt or last.pt) to evaluate")
    key = _file_key(ckpt_path)
    metrics, ckpt, spec = evaluate_checkpoint(
        ckpt_path, batch_size=batch_size, device=device, progress=progress
    )
    if key is None or _file_key(ckpt_path) != key:
        # A training replaced the file while we read it: score the new one next time.
        raise CharLMError(f"{ckpt_path} changed while it was being evaluated: try again")
    result = FullEval(
        ckpt_path.name,
        ckpt["iter"] if isinstance(ckpt["iter"], int) else 0,
        "val",
        spec,
        metrics.loss,
        metrics.top1,
        metrics.top5,
        metrics.n_tokens,
        key[1],
        key[0],
    )
    _store_full_eval(run_dir, result)
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


# -- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = True


# The numbers people compare first come first: at 80 columns the table shows the run, its
# losses and accuracies, and scrolls sideways to the rest.
COLUMNS: tuple[Column, ...] = (
    Column("name", "run", False),
    Column("model", "model", False),
    Column("params", "params"),
    Column("val_loss", "val loss"),
    Column("val_bpc", "val bpc"),
    Column("val_top1", "top@1"),
    Column("val_top5", "top@5"),
    Column("gap", "gap"),
    Column("seconds", "time"),
    Column("status", "status", False),
    Column("iters", "iters"),
    Column("chars", "chars seen"),
    Column("shape", "shape · block", False),
    Column("optimizer", "opt", False),
    Column("lr", "lr"),
    Column("batch", "batch"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
DELTAS = ("val_loss", "val_top1")  # what a baseline's differences are shown for


@dataclass(frozen=True)
class Row:
    name: str
    path: str
    model: str
    params: int | None
    shape: str
    optimizer: str
    lr: float | None
    batch: int | None
    iters: int
    chars: int | None
    seconds: float | None
    train_loss: float | None
    val_loss: float | None
    val_bpc: float | None
    val_top1: float | None
    val_top5: float | None
    gap: float | None  # val - train loss at the best eval (estimates)
    status: str
    val_source: str  # "full" (every position of the split) or "estimate" (eval batches)
    best_iter: int | None
    deltas: dict[str, float | None] = field(default_factory=dict)  # vs a baseline

    def value(self, key: str) -> Any:
        return getattr(self, key)


def shape_of(model: dict[str, Any]) -> str:
    """layers × heads × width · block, with what the architecture has."""
    name = model.get("model")
    L, H, C, T = (_int(model.get(k)) for k in ("n_layer", "n_head", "n_embd", "block_size"))
    block = f" · {T}" if T is not None else ""
    if name == "gpt" and None not in (L, H, C):
        return f"{L}×{H}×{C}{block}"
    if name in ("rnn", "gru", "lstm") and None not in (L, C):
        return f"{L}×{C}{block}"
    if name == "mlp" and C is not None:
        return f"{C}{block}"
    return f"–{block}"


def row_of(run: RunRecords) -> Row:
    best = run.best_eval
    model, train = run.model, run.train
    n_params = _int(run.config.get("n_params")) or (run.start.n_params if run.start else None)
    per_iter = run.chars_per_iter
    full = run.full
    if full is not None:
        val = (full.loss, full.bpc, full.top1, full.top5)
        source = "full"
    elif best is not None:
        val = (best.val.loss, best.val.bpc, best.val.top1, best.val.top5)
        source = "estimate"
    else:
        val, source = (None, None, None, None), "estimate"
    train_loss = best.train.loss if best is not None else None
    gap = best.val.loss - best.train.loss if best is not None else None
    optimizer = train.get("optimizer", "adamw")  # runs from before --optimizer used AdamW
    return Row(
        name=run.label,
        path=str(run.path),
        model=str(model.get("model", "?")),
        params=n_params,
        shape=shape_of(model),
        optimizer=optimizer if isinstance(optimizer, str) else "?",
        lr=_num(train.get("lr")),
        batch=_int(train.get("batch_size")),
        iters=run.iter,
        chars=run.iter * per_iter if per_iter is not None else None,
        seconds=run.seconds,
        train_loss=train_loss,
        val_loss=val[0],
        val_bpc=val[1],
        val_top1=val[2],
        val_top5=val[3],
        gap=gap,
        status=run.status,
        val_source=source,
        best_iter=full.iter if full is not None else best.iter if best is not None else None,
    )


def with_baseline(rows: Sequence[Row], baseline: str | None) -> list[Row]:
    """Rows with their differences from the baseline row (by name) in `deltas`."""
    base = next((r for r in rows if r.name == baseline), None)
    if base is None:
        return list(rows)
    out = []
    for r in rows:
        deltas = {}
        for key in DELTAS:
            mine, theirs = r.value(key), base.value(key)
            deltas[key] = mine - theirs if mine is not None and theirs is not None else None
        out.append(Row(**{**_fields(r), "deltas": deltas}))
    return out


def _fields(row: Row) -> dict[str, Any]:
    return {k: getattr(row, k) for k in Row.__dataclass_fields__}


def sort_rows(rows: Iterable[Row], key: str, reverse: bool = False) -> list[Row]:
    """By one column; rows without a value go last either way."""
    if key not in COLUMN_KEYS:
        raise CharLMError(f"--sort must be one of {', '.join(COLUMN_KEYS)}, not {key!r}")
    rows = list(rows)
    have = [r for r in rows if r.value(key) is not None]
    lack = [r for r in rows if r.value(key) is None]

    def by(r: Row) -> Any:
        v = r.value(key)
        return v.lower() if isinstance(v, str) else v

    return sorted(have, key=by, reverse=reverse) + lack


def matches(row: Row, query: str) -> bool:
    """Every word of the query appears in the row's name, model, shape, optimizer or status."""
    hay = " ".join((row.name, row.model, row.shape, row.optimizer, row.status)).lower()
    return all(word in hay for word in query.lower().split())


# -- text ---------------------------------------------------------------------------------------


def fmt_count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def fmt_seconds(s: float) -> str:
    s = round(s)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def cell(row: Row, key: str) -> str:
    """A value as a table shows it ("–" when unknown); ~ marks an estimated val number."""
    v = row.value(key)
    if v is None:
        return "–"
    est = "~" if key.startswith("val_") and row.val_source == "estimate" else ""
    if key in ("val_loss", "gap"):
        return f"{est}{v:.4f}" if key == "val_loss" else f"{v:+.4f}"
    if key == "val_bpc":
        return f"{est}{v:.3f}"
    if key in ("val_top1", "val_top5"):
        return f"{est}{v:.1%}"
    if key in ("params", "chars"):
        return fmt_count(v)
    if key == "iters":
        return f"{v:,}"
    if key == "lr":
        return f"{v:.0e}" if v == float(f"{v:.0e}") else f"{v:.2e}"
    if key == "seconds":
        return fmt_seconds(v)
    return visible_line(str(v))


def delta_cell(row: Row, key: str) -> str:
    d = row.deltas.get(key)
    if d is None:
        return "–"
    return f"{d:+.1%}" if key == "val_top1" else f"{d:+.4f}"


MARKDOWN = (
    ("name", "run"),
    ("model", "model"),
    ("shape", "shape · block"),
    ("params", "params"),
    ("iters", "iters"),
    ("seconds", "time"),
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
    ("val_bpc", "val bpc"),
    ("val_top1", "top@1"),
    ("val_top5", "top@5"),
)


def _md(text: str) -> str:
    # a run name is anybody's text: keep it from breaking the table or running markup
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def to_markdown(rows: Sequence[Row], baseline: str | None = None) -> str:
    """The seed's experiment log: one row per run, ready to paste."""
    cols = list(MARKDOWN)
    if baseline is not None:
        cols += [(f"delta:{k}", f"Δ {'val loss' if k == 'val_loss' else 'top@1'}") for k in DELTAS]
    right = {k for k, _ in cols if k not in ("name", "model", "shape")}
    lines = [
        "| " + " | ".join(t for _, t in cols) + " |",
        "|" + "|".join("---:" if k in right else "---" for k, _ in cols) + "|",
    ]
    for r in rows:
        cells = []
        for k, _ in cols:
            if k.startswith("delta:"):
                cells.append("base" if r.name == baseline else delta_cell(r, k[6:]))
            elif k == "train_loss":
                cells.append(f"{r.train_loss:.4f}" if r.train_loss is not None else "–")
            else:
                cells.append(_md(cell(r, k)))
        lines.append("| " + " | ".join(cells) + " |")
    note = VAL_NOTE + (f" Δ: difference from {_md(baseline)}." if baseline else "")
    return "\n".join([*lines, "", note]) + "\n"


EXPORT_FIELDS = (
    "name",
    "path",
    "model",
    "params",
    "shape",
    "optimizer",
    "lr",
    "batch",
    "iters",
    "chars",
    "seconds",
    "train_loss",
    "val_loss",
    "val_bpc",
    "val_top1",
    "val_top5",
    "gap",
    "status",
    "val_source",
    "best_iter",
)


def records(rows: Sequence[Row], baseline: str | None = None) -> list[dict[str, Any]]:
    """Plain values per row (JSON and CSV): numbers as numbers, None when unknown."""
    out = []
    for r in rows:
        rec = {k: r.value(k) for k in EXPORT_FIELDS}
        if baseline is not None:
            rec.update({f"delta_{k}": r.deltas.get(k) for k in DELTAS})
        out.append(rec)
    return out


def to_json(rows: Sequence[Row], baseline: str | None = None) -> str:
    # ASCII: JSON's own escapes, so names never reach a terminal raw, and parse back exact
    return dump_json(records(rows, baseline), indent=2, ensure_ascii=True) + "\n"


def _csv_value(v: Any) -> Any:
    if isinstance(v, str):  # CSV has no escapes of its own: control characters never raw
        return visible_line(v)
    return "" if v is None else repr(v) if isinstance(v, float) else v


def to_csv(rows: Sequence[Row], baseline: str | None = None) -> str:
    recs = records(rows, baseline)
    fields = list(EXPORT_FIELDS) + ([f"delta_{k}" for k in DELTAS] if baseline else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for rec in recs:
        # floats by repr, so a reader gets back exactly the number written
        writer.writerow({k: _csv_value(v) for k, v in rec.items()})
    return buf.getvalue()


# -- which runs -----------------------------------------------------------------------------------


def runs_in(folder: Path) -> list[Path]:
    """The run directories inside a folder: a ladder's in rung order, others by name."""
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError as e:
        raise CharLMError(f"cannot list {folder}: {e.strerror or e}") from None
    order = {name: i for i, name in enumerate(ladder_rungs(folder) or [])}
    names.sort(key=lambda n: (order.get(n, len(order)), n))
    return [folder / n for n in names if is_run_dir(folder / n)]


def resolve_runs(paths: Sequence[Path]) -> list[Path]:
    """Each argument is a run, or a folder of runs (a ladder: all of its rungs)."""
    out: list[Path] = []
    for p in paths:
        if not p.exists():
            raise CharLMError(f"no such run: {p}")
        if not p.is_dir():
            raise CharLMError(f"{p} is not a run directory")
        found = [p] if is_run_dir(p) else runs_in(p)
        if not found:
            raise CharLMError(f"{p} is not a run directory and holds no runs")
        out += [f for f in found if f not in out]
    return out


def labels_for(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the folder name, with its parent's when two would clash
    (two ladders' `bigram` rungs read `ladder-a/bigram` and `ladder-b/bigram`)."""
    names = [p.name for p in paths]
    clash = {n for n in names if names.count(n) > 1}
    inside_ladder = [ladder_rungs(p.parent) is not None for p in paths]
    return [
        f"{p.parent.name}/{p.name}" if p.name in clash or ladder else p.name
        for p, ladder in zip(paths, inside_ladder, strict=True)
    ]


def load_runs(paths: Sequence[Path]) -> list[RunRecords]:
    runs = [RunRecords(p, label) for p, label in zip(paths, labels_for(paths), strict=True)]
    for r in runs:
        r.update()
    return runs


def pick_baseline(rows: Sequence[Row], baseline: str | None) -> str | None:
    """The baseline's row name, given a run's name or path."""
    if baseline is None:
        return None
    for r in rows:
        if baseline in (r.name, r.path) or Path(baseline).resolve() == Path(r.path).resolve():
            return r.name
    raise CharLMError(
        f"--baseline {baseline!r} is not one of the runs compared: "
        + ", ".join(r.name for r in rows)
    )
