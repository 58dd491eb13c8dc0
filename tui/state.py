"""What the dashboard knows about a run, read from the files the run writes.

`FileFeed` tails metrics.jsonl and samples.jsonl (complete lines only) and applies
the records to a `RunState`. The dashboard polls it on a timer: a throttled snapshot
of a training that runs in another process, whether this app started it or not.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.rundir import read_config

MAX_STEP_POINTS = 20_000  # plenty for a chart; older points are thinned


@dataclass
class RunState:
    run_dir: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    start: dict[str, Any] | None = None
    last_step: dict[str, Any] | None = None
    steps: list[tuple[int, float]] = field(default_factory=list)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=120))
    evals: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: dict[str, Any] | None = None
    version: int = 0  # bumped on every change, so widgets redraw only when needed

    @property
    def model_config(self) -> dict[str, Any]:
        return self.config.get("model", {}) if isinstance(self.config, dict) else {}

    @property
    def train_config(self) -> dict[str, Any]:
        return self.config.get("train", {}) if isinstance(self.config, dict) else {}

    @property
    def iter(self) -> int:
        its = [
            r.get("iter", 0)
            for r in (self.last_step, self.evals[-1] if self.evals else None, self.done, self.start)
            if r
        ]
        return max(its, default=0)

    @property
    def best_eval(self) -> dict[str, Any] | None:
        scored = [e for e in self.evals if isinstance(e.get("val_loss"), (int, float))]
        return min(scored, key=lambda e: e["val_loss"]) if scored else None

    def apply(self, record: dict[str, Any]) -> None:
        kind = record.get("event")
        if kind == "step":
            self.last_step = record
            loss = record.get("loss")
            if isinstance(loss, (int, float)):
                self.steps.append((record["iter"], loss))
                self.recent.append(loss)
                if len(self.steps) > MAX_STEP_POINTS:
                    self.steps = self.steps[::2]
        elif kind == "eval":
            self.evals.append(record)
        elif kind == "sample":
            self.samples.append(record)
        elif kind == "checkpoint":
            self.checkpoints[record.get("kind", "?")] = record
        elif kind == "start":
            if record.get("resumed"):
                # Records past the resume point were dropped from the files: drop them here too.
                it = record.get("iter", 0)
                self.evals = [e for e in self.evals if e.get("iter", 0) <= it]
                self.steps = [s for s in self.steps if s[0] <= it]
            self.start = record
            self.done = None
        elif kind == "done":
            self.done = record
        else:
            return
        self.version += 1

    def apply_all(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            self.apply(r)


class _Tail:
    """Complete new lines of a growing file; a half-written last line waits for its end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.inode: int | None = None

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """New records, and whether the file was replaced (then they are all of it)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return [], False
        reset = self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset)
        if reset:
            self.offset, self.partial = 0, b""
        self.inode = st.st_ino
        if st.st_size == self.offset:
            return [], reset
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()  # empty when the chunk ended with a newline
        out = []
        for line in lines:
            try:
                rec = json.loads(line.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out, reset


class FileFeed:
    """RunState of a run directory written by another process, or finished long ago."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.state = RunState(run_dir=run_dir, config=read_config(run_dir) or {})
        self._metrics = _Tail(run_dir / "metrics.jsonl")
        self._samples = _Tail(run_dir / "samples.jsonl")

    def update(self) -> bool:
        metrics, reset_m = self._metrics.read()
        samples, reset_s = self._samples.read()
        if reset_m or reset_s:
            # A resume rewrote the files: start over from what they hold now.
            self._metrics, self._samples = _Tail(self._metrics.path), _Tail(self._samples.path)
            self.state = RunState(run_dir=self.run_dir, config=read_config(self.run_dir) or {})
            metrics, _ = self._metrics.read()
            samples, _ = self._samples.read()
        if not self.state.config:
            self.state.config = read_config(self.run_dir) or {}
        self.state.apply_all(metrics + samples)
        return bool(metrics or samples or reset_m or reset_s)
