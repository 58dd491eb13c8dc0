"""Steering a training process from outside: a small JSON file in its run directory.

    checkpoints/<run>/control.json  {"paused": false, "stop": false, "save": 0, "sample": 0}

A dashboard (or any process that can write the run directory) writes it atomically;
the trainer checks it once per step (core/steering.py) and applies changes: pause or
resume, stop (saving last.pt), and one checkpoint or sample for each increment of the
counters. The file may be written by anyone: a malformed one is ignored, with a note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.files import atomic_write_text
from core.rundir import CONTROL, CONTROL_DEFAULTS

DEFAULTS: dict[str, Any] = CONTROL_DEFAULTS


class BadControl(ValueError):
    """control.json exists but does not hold a valid request."""


def parse_control(raw: bytes) -> dict[str, Any]:
    """The requests in a control file's bytes, each checked; BadControl names the fault."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadControl(f"not JSON ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise BadControl(f"not a JSON object but {type(data).__name__}")
    out = dict(DEFAULTS)
    for key, value in data.items():
        if key not in DEFAULTS:
            continue  # a newer dashboard's request: not ours to act on
        kind = type(DEFAULTS[key])
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadControl(f"{key} must be a whole number, not {value!r}")
        if kind is int and not 0 <= value < 2**62:
            raise BadControl(f"{key} is out of range: {value!r}")
        if kind is bool and not isinstance(value, bool):
            raise BadControl(f"{key} must be true or false, not {value!r}")
        out[key] = value
    return out


def read_control(run_dir: Path) -> dict[str, Any]:
    """The current requests; the defaults when the file is missing or malformed."""
    try:
        return parse_control((run_dir / CONTROL).read_bytes())
    except (OSError, BadControl):
        return dict(DEFAULTS)


def write_control(run_dir: Path, **changes: Any) -> dict[str, Any]:
    """Update the control file atomically (every write is a new inode: see ControlFile)."""
    data = {**read_control(run_dir), **changes}
    atomic_write_text(run_dir / CONTROL, json.dumps(data), durable=False)
    return data


def request(run_dir: Path, what: str) -> None:
    """Ask a running trainer for one more checkpoint ('save') or sample ('sample')."""
    write_control(run_dir, **{what: int(read_control(run_dir)[what]) + 1})
