"""`charlm-tui steer`: change a running training from a shell, as the dashboard's keys do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.control import SteerRequest
from charlm_tui.tui.cli.common import declared


@declared(SteerRequest)
def steer(
    run_dir: Annotated[
        Path, typer.Argument(help="The run directory of a training going on now.", metavar="RUN")
    ],
    options: SteerRequest,
) -> None:
    """Change a running training from a shell: what the dashboard's keys do.

    The request goes through RUN/control.json and takes effect at the next step; each
    change is recorded in metrics.jsonl as a steer record and kept by --resume.

    Examples:

      charlm-tui steer checkpoints/myrun --lr-scale 0.5

      charlm-tui steer checkpoints/myrun --extend 20 --sample-temperature 1.0
    """
    from charlm_tui.core.runs.control import control_updates, read_control, write_control
    from charlm_tui.core.runs.rundir import RunLock, control_lock, is_run_dir

    if not run_dir.is_dir() or not is_run_dir(run_dir):
        raise CharLMError(f"{run_dir} is not a run directory")
    if not RunLock.held(run_dir):
        raise CharLMError(f"nothing trains in {run_dir} now: there is nothing to steer")
    with control_lock(run_dir):  # read, change, write: no other writer in between
        current = read_control(run_dir)
        updates = control_updates(run_dir, options)
        if not updates:
            raise CharLMError("nothing to change: give an option (see: charlm-tui steer --help)")
        write_control(run_dir, **updates)
    for name, value in updates.items():
        print(f"{name}: {current.get(name)!s} -> {value!s} (from the next step)")
