"""`charlm-tui compare`: runs side by side, on the compare screen or as a table."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

import typer

from charlm_tui.core.config import DeviceOption
from charlm_tui.core.options import option
from charlm_tui.tui.cli.common import RunsArg, declared, launch, wants_screen


def _column(key: str) -> str | None:
    from charlm_tui.tui.tables import COLUMN_KEYS  # the run records' readers: not for --help

    return None if key in COLUMN_KEYS else f"must be one of {', '.join(COLUMN_KEYS)}, not {key!r}"


@dataclass(frozen=True)
class CompareOptions:
    format: Literal["table", "markdown", "csv", "json"] | None = option(
        None,
        "Print the table (implies --no-ui): markdown is the experiment log's, ready to "
        "paste; csv and json for scripts. Default: the compare screen.",
        "output",
    )
    sort: str | None = option(
        None,
        "Sort by a column: name, params, seconds, val_loss, val_top1, ...",
        "output",
        check=_column,
        metavar="COLUMN",
    )
    reverse: bool = option(False, "Sort in descending order.", "output")
    baseline: str | None = option(
        None, "Show differences from this run (its name or path).", "output", metavar="RUN"
    )
    groups: bool = option(
        False,
        "With --format json or csv: one record per seed group (runs whose configuration "
        "differs only in the seed: n, mean, std, min, max), and for json each group's "
        "difference from the baseline group with a 95% CI and Welch's p. Markdown and the "
        "table add the groups below the runs whenever a group has replicas.",
        "output",
    )
    full_eval: bool = option(
        False,
        "First score each run's best.pt on every position of its val split (as `eval`; "
        "cached in RUN/eval.json). Without it, runs not yet scored show the training's "
        "eval-batch estimate, marked ~.",
        "scoring",
    )


@declared(CompareOptions)
@declared(DeviceOption, into="on")
def compare(ctx: typer.Context, runs: RunsArg, options: CompareOptions, on: DeviceOption) -> None:
    """Compare runs: loss curves on one chart, and one table of their numbers.

    Opens the compare screen; --format (or --no-ui) prints the table instead. A run's val
    numbers are best.pt's on the full val split once scored (--full-eval), else the
    training's eval-batch estimate, marked ~.

    Examples:

      charlm-tui compare checkpoints/run-a checkpoints/run-b

      charlm-tui --no-ui compare checkpoints/ladder-shakespeare-60s --format markdown
    """
    from charlm_tui.core.report.rows import corpus_warning
    from charlm_tui.core.runs.listing import load_runs, resolve_runs
    from charlm_tui.core.text.display import visible_line
    from charlm_tui.tui.console import print_compare, print_groups, score_runs
    from charlm_tui.tui.exports import (
        groups_csv,
        groups_json,
        groups_markdown,
        to_csv,
        to_json,
        to_markdown,
    )
    from charlm_tui.tui.tables import pick_baseline, row_of, sort_rows, with_baseline

    paths = resolve_runs(runs)
    views = load_runs(paths)
    base = pick_baseline([row_of(v) for v in views], options.baseline)
    if options.format is None and wants_screen(ctx):
        from charlm_tui.tui.app import CharLMApp
        from charlm_tui.tui.messages import OpenCompare

        launch(CharLMApp(compare=OpenCompare(paths, options.full_eval, base)))
        return
    if options.full_eval:
        uncached = score_runs(paths, on.device)
        for view in views:
            view.update()
            view.full = uncached.get(view.path, view.full)  # a read-only run's, shown once
    rows = with_baseline([row_of(v) for v in views], base)
    if options.sort is not None:
        rows = sort_rows(rows, options.sort, options.reverse)
    export = {"markdown": to_markdown, "csv": to_csv, "json": to_json}.get(options.format or "")
    if options.groups and options.format in ("csv", "json"):
        print((groups_csv if options.format == "csv" else groups_json)(rows, base), end="")
    elif export is not None:
        print(export(rows, base), end="")  # markdown says it under its table
        if options.format == "markdown":
            print(groups_markdown(rows, base), end="")
    else:
        print_compare(rows, base)
        print_groups(rows, base)
    if (warning := corpus_warning(rows)) is not None and options.format != "markdown":
        # csv and json stay data: the warning goes beside them, on stderr
        out = sys.stdout if export is None else sys.stderr
        print(f"charlm-tui: {visible_line(warning)}", file=out)
