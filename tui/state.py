"""What the dashboard knows about a run, read from the files the run writes.

`FileFeed` tails metrics.jsonl and samples.jsonl with core's reader (complete lines
only, typed events) and applies them to a `RunState`. The dashboard polls it on a
timer: a throttled snapshot of a training that runs in another process, whether this
app started it or not.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charlm_tui.core.config import RunLength
from charlm_tui.core.runs.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    Event,
    NoteEvent,
    SampleEvent,
    StartEvent,
    SteerEvent,
    StepEvent,
)
from charlm_tui.core.runs.records import JsonlTail
from charlm_tui.core.runs.rundir import METRICS, SAMPLES, config_section, read_config

MAX_STEP_POINTS = 20_000  # plenty for a chart; older points are thinned


@dataclass
class RunState:
    run_dir: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    start: StartEvent | None = None
    last_step: StepEvent | None = None
    steps: list[StepEvent] = field(default_factory=list)  # every one read; thinned when long
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=120))
    step_times: deque[float] = field(default_factory=lambda: deque(maxlen=120))  # dt_s
    evals: list[EvalEvent] = field(default_factory=list)
    samples: list[SampleEvent] = field(default_factory=list)
    checkpoints: dict[str, CheckpointEvent] = field(default_factory=dict)
    notes: list[NoteEvent] = field(default_factory=list)
    steers: list[SteerEvent] = field(default_factory=list)  # changes made while it trained
    done: DoneEvent | None = None
    version: int = 0  # bumped on every change, so widgets redraw only when needed

    @property
    def model_config(self) -> dict[str, Any]:
        return config_section(self.config, "model")

    @property
    def train_config(self) -> dict[str, Any]:
        return config_section(self.config, "train")

    @property
    def length(self) -> RunLength | None:
        return RunLength.of(self.train_config)

    @property
    def iter(self) -> int:
        last_eval = self.evals[-1] if self.evals else None
        events = (self.last_step, last_eval, self.done, self.start)
        return max((e.iter for e in events if e is not None), default=0)

    @property
    def best_eval(self) -> EvalEvent | None:
        scored = [e for e in self.evals if math.isfinite(e.val.loss)]
        return min(scored, key=lambda e: e.val.loss) if scored else None

    def apply(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self.last_step = event
            if event.dt_s == event.dt_s and event.dt_s >= 0:
                self.step_times.append(event.dt_s)
            if event.loss == event.loss:
                self.steps.append(event)
                self.recent.append(event.loss)
                if len(self.steps) > MAX_STEP_POINTS:
                    self.steps = self.steps[::2]
        elif isinstance(event, EvalEvent):
            self.evals.append(event)
        elif isinstance(event, SampleEvent):
            self.samples.append(event)
        elif isinstance(event, CheckpointEvent):
            self.checkpoints[event.kind] = event
        elif isinstance(event, SteerEvent):
            self.steers.append(event)
            if isinstance(self.config.get("train"), dict):  # the dashboard's length, intervals
                self.config["train"][event.field] = event.new
        elif isinstance(event, NoteEvent):
            self.notes.append(event)
        elif isinstance(event, StartEvent):
            if event.resumed:
                # Records past the resume point were dropped from the files: here too.
                self.evals = [e for e in self.evals if e.iter <= event.iter]
                self.steps = [s for s in self.steps if s.iter <= event.iter]
            self.start = event
            self.done = None
        elif isinstance(event, DoneEvent):
            self.done = event
        self.version += 1

    def apply_all(self, events: list[Event]) -> None:
        for e in events:
            self.apply(e)


class FileFeed:
    """RunState of a run directory written by another process, or finished long ago."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.state = RunState(run_dir=run_dir, config=read_config(run_dir) or {})
        self._metrics = JsonlTail(run_dir / METRICS)
        self._samples = JsonlTail(run_dir / SAMPLES)

    @property
    def error(self) -> str | None:
        """Why the run's records cannot be read, if they cannot."""
        return self._metrics.error or self._samples.error

    def update(self) -> bool:
        metrics, reset_m = self._metrics.read()
        samples, reset_s = self._samples.read()
        if reset_m or reset_s:
            # A resume rewrote the files: start over from what they hold now.
            self._metrics, self._samples = (
                JsonlTail(self._metrics.path),
                JsonlTail(self._samples.path),
            )
            self.state = RunState(run_dir=self.run_dir, config=read_config(self.run_dir) or {})
            metrics, _ = self._metrics.read()
            samples, _ = self._samples.read()
        if not self.state.config:
            self.state.config = read_config(self.run_dir) or {}
        self.state.apply_all(metrics + samples)
        return bool(metrics or samples or reset_m or reset_s)
