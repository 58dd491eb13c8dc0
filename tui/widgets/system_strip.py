"""One line on the machine the run trains on: is the model slow, or the machine busy?

    trainer cpu 182% · rss 412 MiB · load 3.1/2 cores · step 45 ms (40–61) · gpu 1.2 GiB

The training process is not this one: its pid is in the run's lock file (core/runs/rundir.py
LOCK), which the trainer holds. Its CPU time and resident memory are read from
/proc/<pid>/stat and /proc/<pid>/statm (two small reads a second; no psutil), only
when the pid is alive here and is the process holding that lock file (a run written
from another machine to a shared folder names a pid of that machine): otherwise n/a.
The step-time median and its 10th-90th percentiles come from the step records; while
a process trains, the load average from the kernel (os.getloadavg) against the cores.
On CUDA, the GPU memory the process uses, asked of nvidia-smi every few seconds off
the UI thread (the device-wide figure when the process is not visible to it, e.g. in a
container); n/a without it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.widgets import Static

from charlm_tui.core.runs.rundir import LOCK
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import fmt_bytes
from charlm_tui.tui.widgets.metrics import fmt_ms, spread

PROC = Path("/proc")
COMPACT_BELOW = 80  # columns: fewer words, the same numbers
GPU_POLL_S = 5.0  # nvidia-smi takes tens of milliseconds: not twice a second


def lock_pid(run_dir: Path) -> int | None:
    """The pid the training process wrote into its lock file (untrusted: checked)."""
    try:
        raw = (run_dir / LOCK).read_bytes()[:32]
        pid = int(raw.decode("ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return pid if pid > 0 else None


def holds_lock(pid: int, run_dir: Path, proc: Path = PROC) -> bool:
    """Whether process `pid` of this machine has run_dir's lock file open: it is the
    trainer, not a namesake pid (another machine's, or a recycled one)."""
    try:
        lock = (run_dir / LOCK).resolve()
        for fd in (proc / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                if Path(os.readlink(fd)) == lock:
                    return True
    except OSError:
        return False
    return False


@dataclass(frozen=True)
class ProcSample:
    cpu_s: float  # user + system CPU seconds, all threads
    rss: int  # bytes
    at: float  # time.monotonic()


def read_proc(pid: int, proc: Path = PROC) -> ProcSample | None:
    """CPU seconds and resident bytes of `pid` from /proc, or None (gone, not Linux)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        statm = (proc / str(pid) / "statm").read_text()
        # comm (field 2) is in parentheses and may hold spaces: split after the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
        rss = int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
    return ProcSample(cpu, rss, time.monotonic())


def gpu_memory(device: str, pid: int | None) -> str:
    """`1.2 GiB` used by pid on the device's GPU, or `12.1/79.6 GiB` for the whole GPU
    when pid is not among its processes; `n/a` without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "n/a"
    index = device.partition(":")[2] or "0"
    if not index.isdigit():  # the device name comes from a record anyone may write
        return "n/a"

    def query(*args: str) -> list[list[str]]:
        out = subprocess.run(
            [exe, "-i", index, *args, "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
        return [[f.strip() for f in line.split(",")] for line in out.splitlines() if line]

    try:
        if pid is not None:
            for row in query("--query-compute-apps=pid,used_memory"):
                if len(row) == 2 and row[0] == str(pid) and row[1].isdigit():
                    return fmt_bytes(int(row[1]) << 20)
        for row in query("--query-gpu=memory.used,memory.total"):
            if len(row) == 2 and row[0].isdigit() and row[1].isdigit():
                used, total = int(row[0]) / 1024, int(row[1]) / 1024
                return f"{used:.1f}/{total:.1f} GiB (all)"
    except (OSError, subprocess.SubprocessError):
        pass
    return "n/a"


class SystemStrip(Static):
    """The training process's CPU and memory, the machine's load, the step time."""

    DEFAULT_CSS = """
    SystemStrip { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, run_dir: Path, **kwargs) -> None:
        super().__init__(markup=False, **kwargs)
        self.run_dir = run_dir
        self._pid: int | None = None
        self._local = False  # the pid holds the lock here (checked once per pid)
        self._last: ProcSample | None = None
        self._cpu: float | None = None
        self._gpu = "n/a"
        self._gpu_at = -GPU_POLL_S

    def sample_process(self, live: bool) -> None:
        """Read the training process's counters (call about once a second)."""
        pid = lock_pid(self.run_dir) if live else None
        if pid != self._pid:
            self._pid, self._last, self._cpu = pid, None, None
            self._local = pid is not None and holds_lock(pid, self.run_dir)
        if pid is None or not self._local:
            self._last = self._cpu = None
            return
        now = read_proc(pid)
        if now is None:
            self._local, self._last, self._cpu = False, None, None
            return
        if self._last is not None and now.at > self._last.at:
            self._cpu = 100 * (now.cpu_s - self._last.cpu_s) / (now.at - self._last.at)
        self._last = now

    def show(self, view: RunView, live: bool) -> None:
        self.sample_process(live)
        device = view.start.device if view.start else ""
        if live and device.startswith("cuda") and time.monotonic() - self._gpu_at > GPU_POLL_S:
            self._gpu_at = time.monotonic()
            self.poll_gpu(device, self._pid if self._local else None)
        compact = 0 < self.size.width < COMPACT_BELOW
        self.update(self.line(view, live, device, compact), layout=False)  # height 1: no relayout

    def line(self, view: RunView, live: bool, device: str, compact: bool = False) -> Text:
        """The strip's text; `compact` (a narrow terminal) drops the words the numbers
        do not need: `cpu 183% · 412 MiB · load 3.1/2 · step 45 ms (40–61)`."""
        parts: list[str] = []
        if self._last is not None:
            cpu = f"{self._cpu:.0f}%" if self._cpu is not None else "…"
            rss = fmt_bytes(self._last.rss)
            parts.append(f"cpu {cpu} · {rss}" if compact else f"trainer cpu {cpu} · rss {rss}")
        elif live:
            parts.append(
                "cpu n/a" if compact else "trainer cpu n/a (not a process of this machine)"
            )
        else:
            parts.append("not training")
        if live:  # how busy the machine is matters while it trains
            with contextlib.suppress(OSError, AttributeError):
                cores = f"{os.cpu_count() or '?'}" + ("" if compact else " cores")
                parts.append(f"load {os.getloadavg()[0]:.1f}/{cores}")
        times = spread(view.step_times)
        if times is not None:
            med, lo, hi = times
            digits = 0 if round(hi * 1e3, 1) >= 10 else 1
            parts.append(f"step {fmt_ms(med)} ({lo * 1e3:.{digits}f}–{hi * 1e3:.{digits}f})")
        if live and device.startswith("cuda"):
            parts.append(f"gpu {self._gpu}")
        return Text(" · ".join(parts), no_wrap=True, overflow="ellipsis")

    @work(thread=True, exclusive=True, group="gpu", exit_on_error=False)
    def poll_gpu(self, device: str, pid: int | None) -> None:
        self._gpu = gpu_memory(device, pid)
