"""`charlm-tui runs`: the runs in a folder, as home lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charlm_tui.tui.formatting import STATUS_WORDS

STATUS_HELP = "Status words:\n\n" + "\n".join(
    f"  [bold]{word}[/bold]: {meaning}" for word, meaning in STATUS_WORDS.items()
)


def runs(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Folder of runs, or one run (default: checkpoints/).", metavar="DIR"),
    ] = None,
) -> None:
    """List runs and their checkpoints: model, params, iteration, best val loss, corpus,
    status and age."""
    from charlm_tui.core import paths
    from charlm_tui.core.runs.listing import list_runs
    from charlm_tui.tui.console import print_runs

    root = directory or paths.runs_dir()
    if directory is None and not root.exists():
        print(f"no runs yet in {root}/: start one with  charlm-tui --no-ui train --preset tiny")
        return
    views = list_runs(root)
    if not views:
        print(f"no runs in {root}: start one with  charlm-tui --no-ui train --out {root}/NAME")
        return
    if len(views) == 1 and views[0].path == root:
        views[0].label = str(root)
    print_runs(views, root)
