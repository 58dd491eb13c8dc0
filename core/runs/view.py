"""The run view: one run directory as every screen and command sees it.

Folded from the files a run writes (config.json, metrics.jsonl, samples.jsonl,
eval.json, the lock and control.json), incrementally: each `update()` reads on from
where the last one stopped, complete lines only, and a records file that was rewritten
(a resume drops what it will redo) is read again from its start. Status, the best
validation number and what it is, where a resume would start, the run's length as
steered, the ETA and the next eval or sample are worked out here, once, so `runs`,
home, compare, the dashboard, `watch` and the ladder say the same thing about a run.

A view made for a listing (`curves=False, samples=False`) keeps no step records and
reads no samples: its memory grows with the evals, not with the steps already read.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import statistics
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from charlm_tui.core.config import SPECS, RunLength
from charlm_tui.core.runs.control import read_control
from charlm_tui.core.runs.events import (
    AlertEvent,
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    Event,
    InternalsEvent,
    NoteEvent,
    SampleEvent,
    StartEvent,
    SteerEvent,
    StepEvent,
)
from charlm_tui.core.runs.labels import LABELS, Labels, read_labels
from charlm_tui.core.runs.provenance import read_provenance
from charlm_tui.core.runs.records import JsonlTail
from charlm_tui.core.runs.rundir import (
    CHECKPOINT_KINDS,
    CONFIG,
    FULL_EVAL,
    METRICS,
    PROVENANCE,
    SAMPLES,
    RunLock,
    checkpoint_name,
    config_section,
    read_config,
)
from charlm_tui.core.runs.scores import FullEval, file_key, read_full_eval, scored_checkpoint
from charlm_tui.core.values import as_int

MAX_STEP_POINTS = 20_000  # plenty for a chart; beyond it, halved keeping the loss's extremes
RECENT = 120  # step records behind the sparkline, the step time and the next-eval ETA
NOTES_KEPT = 200
INTERNALS_KEPT = 2_000  # recordings of the model's internals; beyond it, every other one


@dataclass(frozen=True)
class BestVal:
    """A run's best validation numbers, and what they are: best.pt scored on every
    position of the val split (`full`), or the lowest estimate of the evals made during
    training, each on `--eval-iters` batches (`estimate`)."""

    loss: float
    bpc: float
    top1: float
    top5: float
    iter: int
    source: Literal["full", "estimate"]
    batches: int | None  # eval batches of an estimate
    positions: int  # characters scored

    @property
    def estimated(self) -> bool:
        return self.source == "estimate"

    def describe(self) -> str:
        """What the number is of: `the full val split` / `10 eval batches`."""
        if not self.estimated:
            return "the full val split"
        return f"{self.batches} eval batches" if self.batches else "eval batches"


def thinned(steps: list[StepEvent]) -> list[StepEvent]:
    """About half of the step records: of every four in a row, the lowest loss and the
    highest, in order. Taking every other one would drop the spikes a long run is watched
    for; this keeps the lowest and highest loss of the whole run however often it thins."""
    out: list[StepEvent] = []
    for i in range(0, len(steps), 4):
        group = steps[i : i + 4]
        lo = min(group, key=_loss)
        hi = max(group, key=_loss)
        out += [lo] if lo is hi else ([lo, hi] if lo.iter < hi.iter else [hi, lo])
    return out


def _loss(step: StepEvent) -> float:
    return step.loss


class RunRecords:
    """What a run's records say, folded one event at a time: the latest of each kind, the
    evals, and (with `curves`) every step record, thinned when there are many."""

    def __init__(self, curves: bool = True) -> None:
        self.curves = curves
        self._clear()

    def _clear(self) -> None:
        self.start: StartEvent | None = None
        self.done: DoneEvent | None = None
        self.last_step: StepEvent | None = None
        self.steps: list[StepEvent] = []  # every one read (curves=True), thinned when long
        self.recent: deque[float] = deque(maxlen=RECENT)  # the latest step losses
        self.step_times: deque[float] = deque(maxlen=RECENT)  # their dt_s
        self.evals: list[EvalEvent] = []
        self.samples: list[SampleEvent] = []
        self.checkpoints: dict[str, CheckpointEvent] = {}  # the latest of each kind
        self.notes: deque[NoteEvent] = deque(maxlen=NOTES_KEPT)
        self.steers: list[SteerEvent] = []  # options changed while it trained
        self.alerts: list[AlertEvent] = []  # what looked unhealthy (--on-alert)
        self.internals: list[InternalsEvent] = []  # --internals-interval (curves=True)
        self.last_internals: InternalsEvent | None = None
        self._steered: dict[str, Any] = {}

    def _apply(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self.last_step = event
            if event.dt_s == event.dt_s and event.dt_s >= 0:
                self.step_times.append(event.dt_s)
            if event.loss == event.loss:
                self.recent.append(event.loss)
                if self.curves:
                    self.steps.append(event)
                    if len(self.steps) > MAX_STEP_POINTS:
                        self.steps = thinned(self.steps)
        elif isinstance(event, EvalEvent):
            self.evals.append(event)
        elif isinstance(event, SampleEvent):
            self.samples.append(event)
        elif isinstance(event, CheckpointEvent):
            self.checkpoints[event.kind] = event
        elif isinstance(event, SteerEvent):
            self.steers.append(event)
            self._steered[event.field] = steered_value(event)
        elif isinstance(event, NoteEvent):
            self.notes.append(event)
        elif isinstance(event, AlertEvent):
            self.alerts.append(event)
        elif isinstance(event, InternalsEvent):
            self.last_internals = event
            if self.curves:
                self.internals.append(event)
                if len(self.internals) > INTERNALS_KEPT:  # the newest always stays
                    self.internals = self.internals[-1::-2][::-1]
        elif isinstance(event, StartEvent):
            if event.resumed:  # the files dropped what came after the resume point
                self.steps = [s for s in self.steps if s.iter <= event.iter]
                self.evals = [e for e in self.evals if e.iter <= event.iter]
                self.alerts = [a for a in self.alerts if a.iter <= event.iter]
                self.internals = [i for i in self.internals if i.iter <= event.iter]
                if self.last_internals is not None and self.last_internals.iter > event.iter:
                    self.last_internals = self.internals[-1] if self.internals else None
            self.start, self.done = event, None
        elif isinstance(event, DoneEvent):
            self.done = event

    @property
    def iter(self) -> int:
        """The latest iteration any record speaks of."""
        last = (self.last_step, self.evals[-1] if self.evals else None, self.done, self.start)
        return max((e.iter for e in last if e is not None), default=0)

    @property
    def seconds(self) -> float | None:
        """Training seconds so far (pauses excluded; evals included, as the budget counts)."""
        if self.done is not None:
            return self.done.elapsed_s
        times = [e.elapsed_s for e in (self.last_step, self.evals[-1] if self.evals else None)
                 if e is not None]  # fmt: skip
        return max(times) if times else None

    @property
    def eta_s(self) -> float | None:
        """Training seconds left, as the trainer last worked it out (0 once done)."""
        if self.done is not None:
            return 0.0
        latest = max((self.last_step, self.evals[-1] if self.evals else None),
                     key=lambda e: -1 if e is None else e.iter)  # fmt: skip
        return latest.eta_s if latest is not None else None

    @property
    def progress(self) -> float | None:
        if self.done is not None and self.done.reason == "finished":
            return 1.0
        latest = self.last_step or (self.evals[-1] if self.evals else None)
        return latest.progress if latest is not None else None

    def step_time(self) -> float | None:
        """The median seconds of the latest steps."""
        times = [t for t in self.step_times if math.isfinite(t)]
        return statistics.median(times) if times else None

    @property
    def best_eval(self) -> EvalEvent | None:
        """The eval whose val estimate was lowest: the one best.pt was saved at."""
        scored = [e for e in self.evals if math.isfinite(e.val.loss)]
        return min(scored, key=lambda e: (e.val.loss, e.iter)) if scored else None

    def noted_pause(self) -> bool:
        """The trainer said it paused and has not said it resumed (its notes)."""
        for note in reversed(self.notes):
            if note.text.startswith("resumed"):
                return False
            if note.text.startswith("paused"):
                return True
        return False


class RunView(RunRecords):
    """Everything a run directory says about its run. Call `update()` to read on."""

    def __init__(
        self,
        path: Path,
        *,
        label: str | None = None,
        group: str = "",
        curves: bool = True,
        samples: bool = True,
    ) -> None:
        self.path = path
        self.label = label or path.name
        self.group = group  # the ladder whose rung this run is (core/experiments/ladder.py)
        self._metrics = JsonlTail(path / METRICS)
        self._samples = JsonlTail(path / SAMPLES) if samples else None
        # Each file's key when it was last read; a missing file's key at first (None), so
        # a run folder with nothing in it yet reads as unchanged.
        self._keys: dict[str, Any] = dict.fromkeys((CONFIG, LABELS, PROVENANCE))
        self._keys[FULL_EVAL] = (None, None)  # eval.json's key, and its checkpoint's
        self._provenance: list[dict[str, Any]] = []
        self.labels = Labels()  # labels.json: --tag and --notes, edited from home
        self.config: dict[str, Any] = {}
        self.full: FullEval | None = None
        self.version = 0  # bumped by every change, so a screen redraws only when needed
        super().__init__(curves)

    # -- reading ---------------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        """Why the run's records cannot be read, if they cannot."""
        return self._metrics.error or (self._samples.error if self._samples else None)

    def update(self) -> bool:
        """Read what the run's files gained since the last call; True if anything changed."""
        events, reset = self._metrics.read()
        samples, reset_s = self._samples.read() if self._samples else ([], False)
        if reset or reset_s:  # a resume rewrote them: what they hold now, from the start
            self._metrics = JsonlTail(self.path / METRICS)
            self._samples = JsonlTail(self.path / SAMPLES) if self._samples else None
            self._clear()
            events, _ = self._metrics.read()
            samples, _ = self._samples.read() if self._samples else ([], False)
        changed = bool(events or samples) or reset or reset_s
        for event in events + samples:
            self._apply(event)
        changed |= self._read_config() | self._read_full() | self._read_labels()
        if changed:
            self.version += 1
        return changed

    def _changed(self, name: str, key: Any) -> bool:
        """A file's key (its inode, size, times) moved since it was last read: read it."""
        if self._keys[name] == key:
            return False
        self._keys[name] = key
        return True

    def _read_config(self) -> bool:
        if not self._changed(CONFIG, file_key(self.path / CONFIG)):
            return False
        self.config = read_config(self.path) or {}
        return True

    def _read_labels(self) -> bool:
        if not self._changed(LABELS, file_key(self.path / LABELS)):
            return False
        self.labels = read_labels(self.path)
        return True

    @property
    def ran_with(self) -> dict[str, Any]:
        """Where the run's latest session ran (provenance.json; {} for a run without
        one): read when asked, as only compare and the report need it."""
        if self._changed(PROVENANCE, file_key(self.path / PROVENANCE)):
            self._provenance = read_provenance(self.path)
        return self._provenance[-1] if self._provenance else {}

    def _read_full(self) -> bool:
        # eval.json holds the score of one checkpoint file: a new score, or a new best.pt
        # (a run still training), means reading it again.
        ckpt = scored_checkpoint(self.path)
        key = (file_key(self.path / FULL_EVAL), file_key(ckpt) if ckpt else None)
        if not self._changed(FULL_EVAL, key):
            return False
        self.full = read_full_eval(self.path)
        return True

    # -- what the run is -------------------------------------------------------------------

    @property
    def model(self) -> dict[str, Any]:
        """config.json's model section ({} where it has none)."""
        return config_section(self.config, "model")

    @property
    def train(self) -> dict[str, Any]:
        """config.json's train section, with the steering records read since applied."""
        return {**config_section(self.config, "train"), **self._steered}

    @property
    def length(self) -> RunLength | None:
        return RunLength.of(self.train)

    @property
    def corpus(self) -> str:
        data = self.train.get("data")
        return data if isinstance(data, str) else "?"

    @property
    def n_params(self) -> int | None:
        """The parameters the training counted (its start record), else config.json's."""
        return (self.start.n_params if self.start else None) or as_int(self.config.get("n_params"))

    @property
    def chars_per_iter(self) -> int | None:
        """Characters one optimizer step trains on: batch x block x processes."""
        batch, block = as_int(self.train.get("batch_size")), as_int(self.model.get("block_size"))
        if batch is None or block is None:
            return None
        return batch * block * max(1, self.start.world_size if self.start else 1)

    @property
    def checkpoint_files(self) -> tuple[str, ...]:
        """best.pt and last.pt, those that exist, in that order."""
        names = (checkpoint_name(k) for k in CHECKPOINT_KINDS)
        return tuple(n for n in names if (self.path / n).is_file())

    @property
    def modified(self) -> float:
        """Unix time of the newest file in the run directory, its labels aside: editing
        a run's tags or notes is not training it (and does not reorder home's list)."""
        newest = 0.0
        with contextlib.suppress(OSError), os.scandir(self.path) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) and entry.name != LABELS:
                        newest = max(newest, st.st_mtime)
        return newest

    # -- where it is -----------------------------------------------------------------------

    @property
    def resume_iter(self) -> int | None:
        """Where a resume would start: last.pt's iteration (the latest record's while a
        process still trains); None before anything was recorded."""
        saved = self.checkpoints.get("last")
        if saved is not None and not self.live:
            return saved.iter
        return self.iter if (self.last_step or self.evals or self.done) else None

    def next_due(self, name: str) -> tuple[int, float | None] | None:
        """(iteration, seconds until it) of the next eval or sample (`eval_interval`,
        `sample_interval`): steps left times the median step time. None when there is
        no next one (none scheduled, or the run is over)."""
        interval = as_int(self.train.get(name))
        if not interval or interval <= 0 or self.done is not None or self.last_step is None:
            return None
        it, length = self.iter, self.length
        due = (it // interval + 1) * interval
        if length is not None and length.iters is not None and due > length.iters:
            if name != "eval_interval" or it >= length.iters:
                return None
            due = length.iters  # the trainer evaluates once more at the end
        per_step = self.step_time()
        seconds = (due - it) * per_step if per_step is not None else None
        eta = self.last_step.eta_s
        if length is not None and length.by_time and seconds is not None and seconds > eta:
            # The budget runs out first: the final eval comes at its end, a sample not at all.
            return (due, eta) if name == "eval_interval" else None
        return due, seconds

    # -- how it went -----------------------------------------------------------------------

    @property
    def best_val(self) -> BestVal | None:
        """best.pt on the full val split once scored (eval.json), else the best estimate."""
        if (full := self.full) is not None:
            return BestVal(full.loss, full.bpc, full.top1, full.top5, full.iter, "full", None,
                           full.positions)  # fmt: skip
        best = self.best_eval
        if best is None:
            return None
        v = best.val
        batches = as_int(self.train.get("eval_iters"))
        return BestVal(v.loss, v.bpc, v.top1, v.top5, best.iter, "estimate", batches, v.n_tokens)

    # -- is anything training it -----------------------------------------------------------

    @property
    def live(self) -> bool:
        """A process holds the run's lock: it trains now."""
        return RunLock.held(self.path)

    def requests(self) -> dict[str, Any]:
        """What control.json asks of the trainer (its defaults when nothing trains)."""
        return read_control(self.path)

    @property
    def paused(self) -> bool:
        """Training, and paused: asked for in control.json, or said by the trainer."""
        if not self.live:
            return False
        return bool(self.requests()["paused"]) or self.noted_pause()

    @property
    def status(self) -> str:
        """One word: new, running, paused, killed, unreadable, or how its training ended
        (the `reason` of its done record: finished, stopped, interrupted, ...)."""
        if self.error:
            return "unreadable"
        if self.done is not None:
            return self.done.reason
        if self.start is None:
            return "new"
        if self.live:
            return "paused" if self.paused else "running"
        return "killed"


def steered_value(event: SteerEvent) -> Any:
    """A steer record's new value, typed as its option is: records carry numbers as JSON
    floats, and a whole-number option (a run's length, an interval) must stay whole."""
    spec, new = SPECS.get(event.field), event.new
    if spec is not None and spec.base is int and new is not None and float(new).is_integer():
        return int(new)
    return new


def config_differs(view: RunView) -> str | None:
    """Where config.json contradicts the records its training wrote beside the
    checkpoints (a config.json copied from another run, say): then its model section
    describes some other model, and this says so; None when they agree."""
    if view.start is None or not view.config:
        return None
    said = view.model.get("model")
    if isinstance(said, str) and said != view.start.model:
        return f"config.json says {said}, the records {view.start.model}"
    n = as_int(view.config.get("n_params"))
    if n is not None and n != view.start.n_params:
        return f"config.json says {n:,} params, the records {view.start.n_params:,}"
    return None
