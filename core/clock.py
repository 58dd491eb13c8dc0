"""The training clock: how long a run has trained, how far along it is, when it ends.

Training time is wall-clock time since this process started training, plus what earlier
sessions of the run spent (a resume), minus the time spent paused: a time budget buys
training, and a paused run's ETA stands still.
"""

from __future__ import annotations

import time

from core.config import RunLength


class Clock:
    def __init__(self, length: RunLength, elapsed_before: float = 0.0, start_iter: int = 0) -> None:
        self.length = length
        self.elapsed_before = elapsed_before
        self.start_iter = start_iter
        self._t0 = time.perf_counter()
        self._paused_s = 0.0

    def start(self, start_iter: int) -> None:
        self.start_iter = start_iter
        self._t0 = time.perf_counter()
        self._paused_s = 0.0

    def add_pause(self, seconds: float) -> None:
        self._paused_s += seconds

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._t0 - self._paused_s

    def progress(self, it: int) -> float:
        return self.length.progress(it, self.elapsed())

    def finished(self, it: int) -> bool:
        return self.length.finished(it, self.elapsed())

    def eta(self, it: int) -> float:
        done = it - self.start_iter
        if not self.length.by_time and done <= 0:
            return float("nan")
        per_iter = (self.elapsed() - self.elapsed_before) / max(done, 1)
        return self.length.remaining_s(it, self.elapsed(), per_iter)
