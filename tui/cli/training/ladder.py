"""`charlm-tui ladder`: the architecture ladder, rung after rung, then compared."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.experiments.ladder import LadderOptions
from charlm_tui.core.experiments.sweep import Replicas
from charlm_tui.core.runs.labels import Labels
from charlm_tui.tui.cli.common import (
    EXIT_INTERRUPTED,
    INVOKED,
    declared,
    launch,
    wants_dashboard,
)


@declared(LadderOptions)
@declared(Labels, into="labels")
@declared(Replicas, into="reps")
def ladder(ctx: typer.Context, options: LadderOptions, labels: Labels, reps: Replicas) -> None:
    """Train the architecture ladder: one model after another, same budget and seed.

    Each rung trains into checkpoints/<ladder>/<rung>/ and shows on the dashboard (with
    --no-ui: printed); then the compare screen opens on all of them (with --no-ui: the
    markdown table, scored on the full val split). Ctrl-C keeps the finished rungs; the
    same command again carries on where it stopped.

    --seeds N trains each rung N times (compare then shows mean ± std and Welch's test);
    --grid sweeps options, every rung at every combination, and ends with a scatter of
    val loss against each swept option.

    Examples:

      charlm-tui --no-ui ladder --data shakespeare --time-budget 60

      charlm-tui --no-ui ladder --rungs gpt-cpu --grid lr=1e-3,3e-3,1e-2 --seeds 2 --jobs 2
    """
    from charlm_tui.core.experiments.ladder import make_ladder

    lad = make_ladder(options, labels, reps)
    train_folder(ctx, dataclasses.replace(lad, command=("charlm-tui", *INVOKED)), reps)


def train_folder(ctx: typer.Context, lad: Any, reps: Replicas) -> None:
    """A ladder or a seed group: its members one after another on the dashboard, then
    compared; or headless, --jobs at a time."""
    from charlm_tui.core.training import distributed

    dist = distributed.from_env()
    if dist.world_size > 1:
        raise CharLMError(
            f"a {lad.what} trains one {lad.part} at a time in one process: run it without torchrun"
        )
    if wants_dashboard(ctx):
        if reps.jobs > 1:
            raise CharLMError(
                f"--jobs trains {lad.part}s side by side without the dashboard: add --no-ui, "
                "or leave out --jobs to watch them one after another"
            )
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp(ladder=lad))
        return
    run_headless(lad, dist, reps)


def run_headless(lad: Any, dist: Any, reps: Replicas) -> None:
    """Every member with training left, printed (--jobs: a line as each starts and ends);
    then the markdown table of all of them scored on the full val split, their seed
    groups, and a scatter for each swept option."""
    from charlm_tui.core.experiments.ladder import run_ladder
    from charlm_tui.core.runs.listing import load_runs
    from charlm_tui.core.text.display import visible_line
    from charlm_tui.core.training.plan import check_corpus
    from charlm_tui.core.training.trainer import execute
    from charlm_tui.tui.cli.training.train import headless_sinks
    from charlm_tui.tui.console import print_sweep, score_runs
    from charlm_tui.tui.exports import groups_markdown, to_markdown
    from charlm_tui.tui.tables import row_of

    console = Console(highlight=False)
    codes: list[int] = []

    def announce(text: str) -> None:
        console.rule(Text(visible_line(text), style="bold"))  # Text: never read as markup

    def train_rung(rung: Any, plan: Any) -> str:
        done = execute(plan, dist, check_corpus(plan), sinks=headless_sinks(plan))
        codes.append(done.exit_code)
        if done.message:
            print(f"charlm-tui: {done.message}", file=sys.stderr)
        return done.reason

    def ended(rung: Any, status: str) -> None:
        console.print(Text(f"{visible_line(rung.name)}: {status}"))

    if reps.jobs > 1:
        from charlm_tui.core.experiments.jobs import run_jobs

        console.print(Text(f"{reps.jobs} at a time, {reps.threads()} thread(s) each"))
        reason, code = run_jobs(lad, reps.jobs, reps.threads(), announce, ended)
        codes.append(code)
        if reason != "finished":
            announce(f"{lad.what} stopped ({reason}): rerun the command to carry on")
    else:
        reason = run_ladder(lad, train_rung, announce)
    if reason != "finished":  # a stop exits 0 for `train`; an unfinished ladder does not
        raise typer.Exit((codes[-1] if codes else 0) or EXIT_INTERRUPTED)
    paths = lad.run_dirs()
    score_runs(paths)
    views = load_runs(paths)
    rows = [row_of(v) for v in views]
    budget = f"{lad.time_budget:g} s each, " if lad.base is None else ""
    print(f"\n{lad.root}: {len(rows)} {lad.part}s, {budget}seed {lad.seed}\n")
    print(to_markdown(rows), end="")
    print(groups_markdown(rows), end="")
    print_sweep(views, rows, lad.swept)
