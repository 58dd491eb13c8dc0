"""The training clock: how long a run has trained, how far along it is, when it ends.

Training time is wall-clock time since this process started training, plus what earlier
sessions of the run spent (a resume), minus the time spent paused: a time budget buys
training, and a paused run's ETA stands still.
"""

from __future__ import annotations

import time

from charlm_tui.core.config import RunLength


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


class EarlyTimes:
    """Moments at 1x, 2x, 4x and 8x `first_s` of training, for what a young run does by
    time as well as by steps (evals, samples): on a slow machine the first 200 steps can
    take minutes, and a newcomer should see val numbers and text move within the first
    one. 0 turns them off."""

    def __init__(self, first_s: float, elapsed_before: float = 0.0) -> None:
        self.first_s = first_s
        self.next_s = first_s
        self._skip(elapsed_before)  # a resumed run had its early ones

    def due(self, elapsed_s: float) -> bool:
        return bool(self.first_s) and self.next_s <= 8 * self.first_s and elapsed_s >= self.next_s

    def ran(self, elapsed_s: float) -> None:
        """One just ran (by steps or by time): the next early one is at least half a
        period later."""
        self._skip(elapsed_s + self.first_s / 2)

    def _skip(self, until: float) -> None:
        while self.first_s and self.next_s <= until:
            self.next_s *= 2


class Throughput:
    """Training seconds and tokens since the last eval, and a smoothed tokens/s."""

    def __init__(self, tokens_per_step: int) -> None:
        self.tokens_per_step = tokens_per_step
        self.seconds = 0.0
        self.steps = 0
        self.rate = 0.0  # tokens/s, an exponential moving average over steps

    def step(self, dt: float, steps: int = 1) -> None:
        """`steps` steps took dt seconds in all (more than one: read back together)."""
        self.seconds += dt
        self.steps += steps
        now = steps * self.tokens_per_step / max(dt, 1e-9)
        self.rate = now if self.rate == 0.0 else 0.9 * self.rate + 0.1 * now

    def since_eval(self) -> tuple[float, int]:
        """(training seconds, tokens) since the last eval; starts the next interval."""
        seconds, tokens = self.seconds, self.steps * self.tokens_per_step
        self.seconds, self.steps = 0.0, 0
        return seconds, tokens


class ReadBack:
    """Steps run but not yet read back from the device: a GPU runs ahead of the host,
    and their time counts when they are read (every --log-interval steps there)."""

    def __init__(self, speed: Throughput) -> None:
        self.speed = speed
        self.pending = 0
        self.since = time.perf_counter()

    def add(self) -> None:
        if not self.pending:
            self.since = time.perf_counter()  # the first step since the last read-back
        self.pending += 1

    def settle(self) -> float:
        """Count the pending steps as training time; the seconds each took."""
        dt = time.perf_counter() - self.since
        self.speed.step(dt, self.pending)
        per_step, self.pending = dt / max(self.pending, 1), 0
        return per_step
