"""`charlm-tui ladder`: the architecture ladder, rung after rung, then compared."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.labels import Labels
from charlm_tui.core.experiments.ladder import LadderOptions
from charlm_tui.tui.cli.common import EXIT_INTERRUPTED, declared, launch, wants_dashboard


@declared(LadderOptions)
@declared(Labels, into="labels")
def ladder(ctx: typer.Context, options: LadderOptions, labels: Labels) -> None:
    """Train the architecture ladder: one model after another, same budget and seed.

    Each rung trains into checkpoints/<ladder>/<rung>/ and shows on the dashboard (with
    --no-ui: printed); then the compare screen opens on all of them (with --no-ui: the
    markdown table, scored on the full val split). Ctrl-C keeps the finished rungs; the
    same command again carries on where it stopped.

    Example:

      charlm-tui --no-ui ladder --data shakespeare --time-budget 60
    """
    from charlm_tui.core.training import distributed
    from charlm_tui.core.experiments.ladder import make_ladder

    lad = make_ladder(options, labels)
    dist = distributed.from_env()
    if dist.world_size > 1:
        raise CharLMError(
            "ladder trains one rung at a time in one process: run it without torchrun"
        )
    if wants_dashboard(ctx):
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp(ladder=lad))
        return
    run_headless(lad, dist)


def run_headless(lad: Any, dist: Any) -> None:
    """Every rung with training left, printed; then the markdown table of all of them,
    scored on the full val split."""
    from charlm_tui.core.runs.listing import load_runs
    from charlm_tui.core.experiments.ladder import run_ladder
    from charlm_tui.core.training.plan import check_corpus
    from charlm_tui.core.training.trainer import execute
    from charlm_tui.tui.cli.training.train import headless_sinks
    from charlm_tui.tui.console import score_runs
    from charlm_tui.tui.exports import to_markdown
    from charlm_tui.tui.tables import row_of

    console = Console(highlight=False)
    dones: list[Any] = []

    def announce(text: str) -> None:
        console.rule(Text(text, style="bold"))  # Text: never read as markup

    def train_rung(rung: Any, plan: Any) -> str:
        done = execute(plan, dist, check_corpus(plan), sinks=headless_sinks(plan))
        dones.append(done)
        if done.message:
            print(f"charlm-tui: {done.message}", file=sys.stderr)
        return done.reason

    reason = run_ladder(lad, train_rung, announce)
    if reason != "finished":  # a stop exits 0 for `train`; an unfinished ladder does not
        raise typer.Exit((dones[-1].exit_code if dones else 0) or EXIT_INTERRUPTED)
    paths = lad.run_dirs()
    score_runs(paths)
    rows = [row_of(v) for v in load_runs(paths)]
    print(f"\n{lad.root}: {len(rows)} rungs, {lad.time_budget:g} s each, seed {lad.seed}\n")
    print(to_markdown(rows), end="")
