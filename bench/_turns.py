"""Run several training processes in turns: one at a time, a slice of seconds each.

A shared VM's speed drifts by ±30% within the hour, so two runs one after the other
can meet different machines. Run in turns, every side sees the same spells. Each side
is paused between its slices and excludes the pauses from its own clock:

- ours through its run's control.json, as the dashboard pauses it (core/training/clock.py keeps
  paused time out of the time budget);
- the baseline worker (bench/vs_nanogpt.py --baseline-worker) through a pause file it
  checks before every step.

A slice ends with a pause request; the next side starts only once the paused one has
said so (its note, or its acknowledgement file) and its CPU time has stopped growing
(OpenMP threads spin for a while after their last parallel region), so no two sides
ever train at once. Linux's /proc gives the CPU time; elsewhere a fixed settle wait.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from common import ROOT  # puts the repository on sys.path

from charlm_tui.core.runs.control import write_control

QUIET_WINDOW_S = 0.2  # CPU time measured over this window...
QUIET_CPU_S = 0.02  # ...must grow by no more than this (10% of a core): the side is idle
SETTLE_S = 0.5  # without /proc: wait this long after the acknowledgement instead
ACK_TIMEOUT_S = 600.0  # an eval, a checkpoint or a final full-split score may come first
MIN_SLICE_S = 1.0  # a side polls for its turn every 20-50 ms: shorter slices measure that


class Side(Protocol):
    name: str
    proc: subprocess.Popen[bytes] | None

    def start(self) -> None:
        """Launch the process; return once it is set up and paused (holding no CPU)."""

    def resume(self) -> None: ...

    def pause(self) -> None:
        """Ask it to pause; return once it has (or has exited)."""

    def finished(self) -> bool: ...

    def kill(self) -> None:
        """End the process now (the run in turns failed or was interrupted)."""


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGKILL when the process running the turns
    dies, however it dies; a paused side would otherwise wait for its turn for ever."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def launch(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    linux = sys.platform.startswith("linux")
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if linux else None,  # one thread here: safe
    )


def ack_path(pause_file: Path) -> Path:
    """Where a worker says it has paused: beside its pause file."""
    return pause_file.with_name(pause_file.name + ".ack")


def paused_for(pause_file: Path | None) -> float:
    """The worker's half of WorkerSide, called before each step: while `pause_file`
    exists (another side's turn), wait, having said so at ack_path; the seconds waited,
    for its clock to leave out."""
    if pause_file is None or not pause_file.exists():
        return 0.0
    t = time.perf_counter()
    ack_path(pause_file).touch()
    while pause_file.exists():
        time.sleep(0.02)
    return time.perf_counter() - t


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its threads so far (None: no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(proc: subprocess.Popen[bytes], timeout: float = ACK_TIMEOUT_S) -> None:
    """Until the process uses (almost) no CPU, or exits."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(proc.pid)
    if before is None:
        time.sleep(SETTLE_S)
        return
    while proc.poll() is None:
        time.sleep(QUIET_WINDOW_S)
        now = cpu_seconds(proc.pid)
        if now is None or now - before <= QUIET_CPU_S:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {proc.pid} kept using CPU after it was paused")
        before = now


def wait_for(done: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while not done():
        if proc.poll() is not None:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} from pid {proc.pid} in {ACK_TIMEOUT_S:g} s")
        time.sleep(0.02)


class ProcessSide:
    """What both kinds of side share: a child process, finished when it has exited."""

    def __init__(self, name: str, argv: list[str], cwd: Path) -> None:
        self.name, self.argv, self.cwd = name, argv, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def finished(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class CLISide(ProcessSide):
    """`charlm-tui --no-ui train ...` paused and resumed through its control.json."""

    def __init__(self, name: str, argv: list[str], run_dir: Path, cwd: Path = ROOT) -> None:
        super().__init__(name, argv, cwd)
        self.run_dir = run_dir
        self._read, self._told = 0, 0  # bytes of metrics.jsonl read, 'paused' notes seen

    def _pauses_told(self) -> int:
        """How many 'paused' notes the trainer has written to metrics.jsonl (read on
        from where the last call stopped: the file grows by a line every few steps)."""
        try:
            with open(self.run_dir / "metrics.jsonl", "rb") as f:
                f.seek(self._read)
                data = f.read()
        except OSError:
            return self._told
        whole = data[: data.rfind(b"\n") + 1]  # a line being written waits for next time
        self._read += len(whole)
        for line in whole.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            note = event.get("event") == "note" and str(event.get("text", ""))
            self._told += bool(note and note.startswith("paused"))
        return self._told

    def start(self) -> None:
        self.proc = launch(self.argv, self.cwd)
        # The trainer writes control.json as it starts (resetting any stale one).
        wait_for(lambda: (self.run_dir / "control.json").exists(), self.proc, "control.json")
        if not self.finished():  # it failed to start: run_in_turns hands it to on_finish
            self.pause()

    def resume(self) -> None:
        write_control(self.run_dir, paused=False)

    def pause(self) -> None:
        assert self.proc is not None
        told = self._pauses_told()
        write_control(self.run_dir, paused=True)
        wait_for(lambda: self._pauses_told() > told, self.proc, "pause note")
        wait_quiet(self.proc)


class WorkerSide(ProcessSide):
    """A worker that pauses while `pause_file` exists, writing `pause_file`.ack when it has."""

    def __init__(self, name: str, argv: list[str], pause_file: Path, cwd: Path = ROOT) -> None:
        super().__init__(name, argv, cwd)
        self.pause_file = pause_file
        self.ack = ack_path(pause_file)

    def start(self) -> None:
        self.pause_file.touch()  # paused from its first step
        self.proc = launch(self.argv, self.cwd)
        wait_for(self.ack.exists, self.proc, "acknowledgement")
        wait_quiet(self.proc)

    def resume(self) -> None:
        self.ack.unlink(missing_ok=True)
        self.pause_file.unlink(missing_ok=True)

    def pause(self) -> None:
        assert self.proc is not None
        self.pause_file.touch()
        wait_for(self.ack.exists, self.proc, "acknowledgement")
        wait_quiet(self.proc)


def run_in_turns(
    sides: Sequence[Side],
    slice_s: float,
    on_finish: Callable[[Side], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Start every side (one at a time, each left paused), then give each in turn
    `slice_s` seconds alone until all have finished. Returns the slices each got.
    On any error or Ctrl-C every process is killed: a paused trainer would otherwise
    wait for its next turn for ever."""
    if slice_s < MIN_SLICE_S:
        raise ValueError(f"slices under {MIN_SLICE_S:g} s measure the switching, not training")
    slices = {side.name: 0 for side in sides}
    try:
        for side in sides:
            side.start()
            if side.finished() and on_finish is not None:  # it could not start
                on_finish(side)
        waiting = [s for s in sides if not s.finished()]
        while waiting:
            for side in list(waiting):
                slices[side.name] += 1
                side.resume()
                end = clock() + slice_s
                while not side.finished() and clock() < end:
                    sleep(min(0.05, max(0.0, end - clock())))
                if not side.finished():
                    side.pause()
                if side.finished():
                    waiting.remove(side)
                    if on_finish is not None:
                        on_finish(side)
    except BaseException:
        for side in sides:
            side.kill()
        raise
    return slices
