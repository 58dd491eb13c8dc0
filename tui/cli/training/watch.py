"""`charlm-tui watch`: the dashboard on a run another process writes (or wrote)."""

from __future__ import annotations

from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.cli.common import RunArg, launch


def watch(run_dir: RunArg) -> None:
    """Open the dashboard on a run another process is writing (or has written).

    Follows metrics.jsonl and samples.jsonl as they grow: start a headless run in one
    terminal (or on a GPU box with a shared folder) and watch it in another.
    """
    from charlm_tui.core.runs.rundir import is_run_dir

    if not run_dir.is_dir():
        raise CharLMError(f"no such run directory: {run_dir}")
    if not is_run_dir(run_dir):
        raise CharLMError(f"{run_dir} is not a run directory (no config.json or metrics.jsonl)")
    from charlm_tui.tui.app import CharLMApp

    launch(CharLMApp(watch=run_dir))
