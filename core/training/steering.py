"""Steering: what the loop does next, decided once per step, the same on every rank.

Requests come from outside: control.json (a dashboard, `steer`, any process that can
write the run directory) and signals (Ctrl-C, SIGTERM, SIGHUP). Only rank 0 reads the
file; `decide` broadcasts its stop/finished/paused to every rank in one collective, so
under torchrun all ranks pause, stop and finish at the same step.
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from charlm_tui.core.config import SPECS, STEERABLE
from charlm_tui.core.files import open_regular
from charlm_tui.core.runs.control import BadControl, parse_control
from charlm_tui.core.runs.rundir import CONTROL, CONTROL_DEFAULTS
from charlm_tui.core.training import distributed


@dataclass(frozen=True)
class Stop:
    """Why a run stops early, and the exit code the CLI gives it."""

    reason: str  # the done record's reason
    exit_code: int


# Every stop there is (under DDP, rank 0 broadcasts its index): a request from a
# dashboard or `steer`, Ctrl-C, SIGTERM (schedulers, `timeout`, containers), SIGHUP.
STOPS = (
    Stop("stopped", 0),
    Stop("interrupted", 128 + signal.SIGINT),
    Stop("terminated", 128 + signal.SIGTERM),
    Stop("terminated", 128 + signal.SIGHUP),
    Stop("stopped", 1),  # by an alert (--on-alert stop): a script should notice
)
ALERT_STOP = STOPS[4]
BY_SIGNAL = {signal.SIGINT: STOPS[1], signal.SIGTERM: STOPS[2], signal.SIGHUP: STOPS[3]}


@dataclass(frozen=True)
class Decision:
    stop: Stop | None  # the run must stop now
    finished: bool  # the run's length is reached
    paused: bool
    save: bool  # a checkpoint was asked for (rank 0's business only)
    sample: bool
    steer: dict[str, Any] = field(default_factory=dict)  # requested values of STEERABLE
    early_eval: bool = False  # an early eval is due (rank 0's clock)


class ControlFile:
    """The trainer's side of control.json: one stat per step, read when it changed.

    A change is told by the file's inode as well as its mtime and size: writers replace
    the file atomically, so every write is a new inode, even one that lands in the same
    clock tick as the last (file timestamps are only as fine as the kernel's, ~4 ms).
    """

    def __init__(self, run_dir: Path) -> None:
        # RunDirectory.claim reset the file: a stale one from an earlier run must not steer.
        self.path = run_dir / CONTROL
        # No signature yet: the first poll reads the file, so a request written between
        # the reset above and that poll is still seen.
        self._signature: tuple[int, int, int] | None = None
        self._seen = {"save": 0, "sample": 0}
        self.current = dict(CONTROL_DEFAULTS)

    def poll(self) -> tuple[dict[str, Any], bool, bool, str | None]:
        """(requests, new save, new sample, why the file was ignored if it was)."""
        try:
            st = self.path.stat()
        except OSError:
            return self.current, False, False, None
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature == self._signature:
            return self.current, False, False, None
        self._signature = signature
        try:
            with open_regular(self.path) as f:  # a FIFO there must not block the trainer
                data = parse_control(f.read(1 << 16))
        except (OSError, BadControl) as e:
            return self.current, False, False, f"{CONTROL} ignored: {e}"
        fresh = {k: data[k] > self._seen[k] for k in ("save", "sample")}
        for k in ("save", "sample"):
            self._seen[k] = max(self._seen[k], data[k])
        self.current = data
        return data, fresh["save"], fresh["sample"], None


class Steering:
    def __init__(self, run_dir: Path | None, dist: distributed.DistInfo, device: torch.device):
        self.dist, self.device = dist, device
        self.file = ControlFile(run_dir) if run_dir is not None and dist.is_main else None
        self.stop: Stop | None = None  # set by a signal, or a stop request
        self.notes: list[str] = []  # for the loop to emit (a malformed control file)

    def request_stop(self, stop: Stop = STOPS[0]) -> None:
        self.stop = self.stop or stop

    def decide(self, finished: bool, early_eval: bool = False) -> Decision:
        """What to do before the next step, the same on every rank: rank 0's stop,
        finish, pause, early eval (clocks differ by rank), save and sample requests and
        steered values, in one broadcast."""
        save = sample = paused = False
        requested: list[float] = [math.nan] * len(STEERABLE)
        if self.file is not None:
            data, save, sample, note = self.file.poll()
            if note:
                self.notes.append(note)
            if data["stop"]:
                self.request_stop()
            paused = bool(data["paused"])
            requested = [math.nan if data.get(k) is None else float(data[k]) for k in STEERABLE]
        code = STOPS.index(self.stop) + 1 if self.stop else 0
        agreed = distributed.agree(
            (code, finished, paused, early_eval, save, sample, *requested), self.dist, self.device
        )
        code, finished, paused, early_eval, save, sample = (
            int(agreed[0]), *(bool(v) for v in agreed[1:6])
        )  # fmt: skip
        steer = {
            name: int(v) if SPECS[name].base is int else v
            for name, v in zip(STEERABLE, agreed[6:], strict=True)
            if not math.isnan(v)
        }
        stop = STOPS[code - 1] if code else None
        return Decision(stop, finished, paused and not stop, save, sample, steer, early_eval)


@contextlib.contextmanager
def stop_on_signals(steering: Steering) -> Iterator[None]:
    """First Ctrl-C, SIGTERM (schedulers, `timeout`, containers) or SIGHUP (a closed
    terminal): finish the step, save last.pt, exit with 128 + the signal. A second
    Ctrl-C stops at once."""

    def handler(signum: int, frame: Any) -> None:
        if steering.stop and signum == signal.SIGINT:
            raise KeyboardInterrupt
        steering.request_stop(BY_SIGNAL[signal.Signals(signum)])

    previous = {s: signal.signal(s, handler) for s in BY_SIGNAL}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
