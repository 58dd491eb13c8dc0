"""`charlm-tui report`: the experiment log of some runs, written as a Markdown or HTML file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from charlm_tui.core.config import DeviceOption
from charlm_tui.core.options import option
from charlm_tui.core.report.content import ChartOptions
from charlm_tui.tui.cli.common import RunsArg, declared

DEFAULT = "report.md"  # in the current folder


@dataclass(frozen=True)
class ReportOptions:
    full_eval: bool = option(
        False,
        "First score each run's best.pt on every position of its val split (as `compare "
        "--full-eval`; cached in RUN/eval.json). Without it, runs not yet scored show the "
        "training's eval-batch estimate, marked ~.",
        "scoring",
    )
    overwrite: bool = option(
        False,
        "Replace the file at -o (and its images) although it is not a report of ours. "
        "An earlier report is replaced without it.",
        "output",
    )


OutputOption = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        help="The report's file: .md (its chart as PNG and SVG in NAME_files/ beside it) "
        "or .html (one page, its chart inline). [dim]\\[default: report.md][/dim]",
        rich_help_panel="Output",
        show_default=False,
        metavar="PATH",
    ),
]


@declared(ReportOptions)
@declared(ChartOptions, into="chart")
@declared(DeviceOption, into="on")
def report(
    runs: RunsArg,
    options: ReportOptions,
    chart: ChartOptions,
    on: DeviceOption,
    output: OutputOption = None,
) -> None:
    """Write the experiment log of some runs: a results table, the options that differ,
    each model's layers, the loss curves as images, and the samples.

    A RUN may be a folder of runs (a ladder: all of its rungs, in order). Val numbers are
    best.pt's on the full val split once scored (--full-eval), else the training's
    eval-batch estimate, marked ~. Each run's final sample is its last one when written at
    its last iteration, else generated from best.pt (seed 1337, on the CPU).

    Examples:

      charlm-tui report checkpoints/ladder-shakespeare-60s

      charlm-tui report checkpoints/run-a checkpoints/run-b -o log.html --smooth 0.9
    """
    import sys

    from charlm_tui.core.report.cells import runs_word
    from charlm_tui.core.report.content import report_views
    from charlm_tui.core.report.write import check_target, report_format, write_report
    from charlm_tui.core.runs.listing import resolve_runs
    from charlm_tui.core.text.display import visible_line
    from charlm_tui.tui.console import score_runs

    path = Path(output or DEFAULT)
    check_target(path, report_format(path), options.overwrite)  # before any scoring
    paths = resolve_runs(runs)
    uncached = score_runs(paths, on.device) if options.full_eval else {}
    views = report_views(paths)
    for view in views:
        view.full = uncached.get(view.path, view.full)  # a read-only run's, shown once
    done = write_report(views, path, chart, overwrite=options.overwrite)
    for note in done.notes:
        print(f"charlm-tui: {visible_line(note)}", file=sys.stderr)
    images = f" (chart: {done.images[0].parent}/)" if done.images else ""
    print(visible_line(f"wrote {done.path}{images}: {runs_word(len(views))}"))
