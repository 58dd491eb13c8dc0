"""Steering a training process from outside: a small JSON file in its run directory.

    checkpoints/<run>/control.json  {"paused": false, "stop": false, "save": 0, "sample": 0,
                                     "lr_scale": 1.0, "eval_interval": 200, ...}

A dashboard, `charlm-tui steer` or any process that can write the run directory writes
it atomically; the trainer checks it once per step (core/training/steering.py) and applies
changes: pause or resume, stop (saving last.pt), one checkpoint or sample for each
increment of the counters, and new values for the steerable options (core/config.py:
lr_scale, the run's length, eval and sample intervals, the samples' temperature). The
trainer writes the values in force when it starts, so every request is an absolute
value, never lost or applied twice. The file may be written by anyone: a malformed one
is ignored, with a note.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charlm_tui.core.config import SPECS, STEERABLE
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_text, open_regular
from charlm_tui.core.options import like, option
from charlm_tui.core.runs.rundir import CONTROL, CONTROL_DEFAULTS, control_lock
from charlm_tui.core.values import is_int


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
    out = dict(CONTROL_DEFAULTS)
    for key, value in data.items():
        if key in STEERABLE:
            spec = SPECS[key]
            try:
                out[key] = spec.coerce(value, CONTROL)
            except CharLMError as e:
                raise BadControl(str(e).removeprefix(f"{CONTROL}: ")) from None
            if (problem := spec.problem(out[key])) is not None:
                raise BadControl(f"{key} {problem}")
            continue
        if key not in CONTROL_DEFAULTS:
            continue  # a newer dashboard's request: not ours to act on
        kind = type(CONTROL_DEFAULTS[key])
        if kind is int and not is_int(value):
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
        with open_regular(run_dir / CONTROL) as f:  # a FIFO there must not block
            return parse_control(f.read(1 << 16))
    except (OSError, BadControl):
        return dict(CONTROL_DEFAULTS)


def write_control(run_dir: Path, **changes: Any) -> dict[str, Any]:
    """Update the control file atomically (every write is a new inode: see ControlFile),
    under the run's control lock: what it read is what it changes."""
    with control_lock(run_dir):
        data = {**read_control(run_dir), **changes}
        atomic_write_text(run_dir / CONTROL, json.dumps(data), durable=False)
    return data


def request(run_dir: Path, what: str) -> None:
    """Ask a running trainer for one more checkpoint ('save') or sample ('sample')."""
    with control_lock(run_dir):
        write_control(run_dir, **{what: int(read_control(run_dir)[what]) + 1})


def steer_run(run_dir: Path, **asked: Any) -> dict[str, Any]:
    """Write the changes `steer_changes(run_dir, **asked)` computes from the values in
    force, both under the control lock: a relative change (the learning rate times 0.8)
    made by two processes at once applies twice, never once. The changes written."""
    with control_lock(run_dir):
        changes = steer_changes(run_dir, **asked)
        if changes:
            write_control(run_dir, **changes)
    return changes


def steered_now(run_dir: Path) -> dict[str, Any]:
    """The steerable options' values as the run has them, or as last requested: what
    the trainer wrote into control.json at its start, updated by every request since."""
    from charlm_tui.core.runs.rundir import read_config

    config = read_config(run_dir) or {}
    values = {k: config["train"].get(k) for k in STEERABLE} if config else {}
    try:
        with open_regular(run_dir / CONTROL) as f:
            data = parse_control(f.read(1 << 16))
    except (OSError, BadControl):
        data = {}
    values.update({k: data[k] for k in STEERABLE if k in data})
    return values


def steer_changes(
    run_dir: Path,
    lr_factor: float | None = None,
    extend_percent: float | None = None,
    **absolute: Any,
) -> dict[str, Any]:
    """New absolute values for a running run's steerable options, checked by the same
    rules as the CLI's: the learning rate scaled by lr_factor, the length by
    extend_percent, and any option given outright (None: unchanged)."""
    now = steered_now(run_dir)
    out: dict[str, Any] = {k: v for k, v in absolute.items() if v is not None}
    if lr_factor is not None:
        if not (math.isfinite(lr_factor) and lr_factor > 0):
            raise CharLMError(f"--lr-scale must be a finite number above 0, not {lr_factor}")
        out["lr_scale"] = float(now.get("lr_scale") or 1.0) * lr_factor
    if extend_percent is not None:
        if not (math.isfinite(extend_percent) and extend_percent > -100):
            raise CharLMError(f"--extend must be a percentage above -100, not {extend_percent}")
        factor = 1 + extend_percent / 100
        if now.get("max_iters") is not None:
            out["max_iters"] = max(1, round(now["max_iters"] * factor))
        elif now.get("time_budget") is not None:
            out["time_budget"] = float(now["time_budget"]) * factor
        else:
            raise CharLMError(f"--extend: {run_dir} has no run length to extend")
    for name, value in out.items():
        SPECS[name].validate(SPECS[name].coerce(value, name))
    return out


def _steered(name: str, metavar: str, label: str) -> object:
    """A steer option declared as the training option it changes (its help and rule);
    `label` names it in the dashboard's steer dialog."""
    spec = SPECS[name]
    return like(spec, None, help=f"{spec.help} From the next step.", group="steer",
                metavar=metavar, form=label)  # fmt: skip


@dataclass(frozen=True)
class SteerRequest:
    """What `charlm-tui steer` asks of a running training: the dashboard's keys, from a
    shell. Each takes effect at the next step."""

    lr_scale: float | None = option(
        None,
        "Multiply the learning rate by X from the next step on (the schedule keeps its shape).",
        "steer",
        metavar="X",
    )
    eval_interval: int | None = _steered("eval_interval", "N", "steps between evals")
    sample_interval: int | None = _steered("sample_interval", "N", "steps between samples")
    sample_temperature: float | None = _steered("sample_temperature", "T", "temperature")
    extend: float | None = option(
        None,
        "Make the run longer by PERCENT (negative: shorter) of its length.",
        "steer",
        metavar="PERCENT",
    )
    pause: bool = option(False, "Pause the run.", "control")
    resume: bool = option(False, "Resume a paused run.", "control")
    stop: bool = option(False, "Stop it (saves last.pt).", "control")
    save: bool = option(False, "Save last.pt now.", "control")
    sample: bool = option(False, "Write a sample now.", "control")

    def check(self) -> None:
        if self.pause and self.resume:
            raise CharLMError("--pause and --resume contradict each other: choose one")


def control_updates(run_dir: Path, asked: SteerRequest) -> dict[str, Any]:
    """What to write into a running run's control.json for a SteerRequest: new values of
    its steerable options (checked as `steer_changes` does), pause or resume, stop, and
    one more save or sample."""
    updates: dict[str, Any] = steer_changes(
        run_dir,
        lr_factor=asked.lr_scale,
        extend_percent=asked.extend,
        eval_interval=asked.eval_interval,
        sample_interval=asked.sample_interval,
        sample_temperature=asked.sample_temperature,
    )
    if asked.pause or asked.resume:
        updates["paused"] = asked.pause
    if asked.stop:
        updates["stop"] = True
    current = read_control(run_dir)
    for what, wanted in (("save", asked.save), ("sample", asked.sample)):
        if wanted:
            updates[what] = int(current[what]) + 1
    return updates
