"""Steering a training process from outside: a small JSON file in its run directory.

    checkpoints/<run>/control.json  {"paused": false, "stop": false, "save": 0, "sample": 0}

The dashboard writes it (atomically); the trainer checks its mtime once per step and
applies changes: pause or resume, stop (saving last.pt), and one checkpoint or sample
for each increment of the counters. Any process that can write the run directory can
steer the run: the dashboard that started it, or one `watch`ing a headless run.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTROL_NAME = "control.json"
DEFAULTS: dict[str, Any] = {"paused": False, "stop": False, "save": 0, "sample": 0}


@dataclass
class Control:
    """Requests from outside the loop, honoured between steps."""

    stop_reason: str | None = None  # "interrupted" (Ctrl-C) or "stopped"
    paused: threading.Event = field(default_factory=threading.Event)
    save_now: threading.Event = field(default_factory=threading.Event)
    sample_now: threading.Event = field(default_factory=threading.Event)

    def stop(self, reason: str = "stopped") -> None:
        self.stop_reason = self.stop_reason or reason
        self.paused.clear()


def read_control(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / CONTROL_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return dict(DEFAULTS)
    return {**DEFAULTS, **data} if isinstance(data, dict) else dict(DEFAULTS)


def write_control(run_dir: Path, **changes: Any) -> dict[str, Any]:
    """Update the control file; `save=+1` style increments are done by the caller."""
    data = {**read_control(run_dir), **changes}
    tmp = run_dir / f".{CONTROL_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, run_dir / CONTROL_NAME)
    return data


def request(run_dir: Path, what: str) -> None:
    """Ask a running trainer for one more checkpoint ('save') or sample ('sample')."""
    write_control(run_dir, **{what: int(read_control(run_dir)[what]) + 1})


class ControlFile:
    """The trainer's side: poll the file (one stat per step) and apply what changed.

    A change is told by the file's inode as well as its mtime: writers replace the file
    atomically, so every write is a new inode, even one that lands in the same clock tick
    as the last (file timestamps are only as fine as the kernel's tick, ~4 ms).
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / CONTROL_NAME
        write_control(run_dir, **DEFAULTS)  # a stale file from an earlier run must not steer
        # No signature yet: the first poll reads the file, so a request written between
        # the reset above and that poll is still seen.
        self._signature: tuple[int, int, int] | None = None
        self._seen = {"save": 0, "sample": 0}

    def poll(self, control: Control) -> None:
        try:
            st = self.path.stat()
        except OSError:
            return
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature == self._signature:
            return
        self._signature = signature
        data = read_control(self.path.parent)
        if data["stop"]:
            control.stop("stopped")
        elif data["paused"]:
            control.paused.set()
        else:
            control.paused.clear()
        for key, event in (("save", control.save_now), ("sample", control.sample_now)):
            if int(data[key]) > self._seen[key]:
                self._seen[key] = int(data[key])
                event.set()
