"""`charlm-tui runs`: the runs in a folder, as home lists them, or as JSON or CSV."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from charlm_tui.core.options import like, option, specs
from charlm_tui.core.runs.labels import Labels
from charlm_tui.core.runs.provenance import describe, read_provenance
from charlm_tui.tui.cli.common import declared
from charlm_tui.tui.formatting import STATUS_WORDS

STATUS_HELP = "Status words:\n\n" + "\n".join(
    f"  [bold]{word}[/bold]: {meaning}" for word, meaning in STATUS_WORDS.items()
)


@dataclass(frozen=True)
class RunsOptions:
    # train's --tag, checked by its rule: named as the flag is typed, once per tag.
    tag: tuple[str, ...] = like(
        specs(Labels)["tag"],
        (),
        help="Only the runs that carry this tag (repeat: runs that carry every tag given; "
        "upper and lower case match).",
        group="filter",
    )
    format: Literal["table", "json", "csv"] = option(
        "table",
        "table: the table home shows (a pipe gets whole rows); json and csv: every column "
        "as exact data, plus path, ladder, status, error, tags and notes, for scripts.",
        "output",
    )
    provenance: bool = option(
        False,
        "Also what each run ran on (its provenance.json): versions, the commit, device, "
        "threads, CPU; json gets every session, csv a ran_with column.",
        "output",
    )


@declared(RunsOptions)
def runs(
    options: RunsOptions,
    directory: Annotated[
        Path | None,
        typer.Argument(help="Folder of runs, or one run (default: checkpoints/).", metavar="DIR"),
    ] = None,
) -> None:
    """List runs and their checkpoints: model, params, iteration, best val loss, corpus,
    status and age, and their tags (`train --tag`, or t on home).

    Examples:

      charlm-tui runs --tag baseline --tag gpt

      charlm-tui runs --format json
    """
    import time

    from charlm_tui.core import paths
    from charlm_tui.core.runs.listing import list_runs
    from charlm_tui.tui.console import print_runs

    root = directory or paths.runs_dir()
    table = options.format == "table"
    if directory is None and not root.exists():
        if table:
            print(f"no runs yet in {root}/: start one with  charlm-tui --no-ui train --preset tiny")
        views = []
    else:
        views = list_runs(root)
        if table and not views:
            print(f"no runs in {root}: start one with  charlm-tui --no-ui train --out {root}/NAME")
            return
    if options.tag:
        views = [v for v in views if carries(v.labels.tags, options.tag)]
        if table and not views:
            tags = " and ".join(options.tag)
            print(f"no run in {root} is tagged {tags}: `charlm-tui runs` lists their tags")
            return
    if len(views) == 1 and views[0].path == root:
        views[0].label = str(root)
    if table:
        if views:
            print_runs(views, root)
            if options.provenance:
                print_provenance(views)
        return
    records = [run_record(v, time.time()) for v in views]
    if options.provenance:
        for record, view in zip(records, views, strict=True):
            sessions = read_provenance(view.path)
            if options.format == "json":
                record["provenance"] = sessions
            else:
                record["ran_with"] = describe(sessions[-1]) if sessions else None
    write_data(to_json(records) if options.format == "json" else to_csv(records))


def print_provenance(views: Sequence[Any]) -> None:
    """Under the table, a line a run: what its latest session ran on."""
    from charlm_tui.core.text.display import visible_line

    print("\nran with (the latest start of each run; provenance.json):")
    for view in views:
        sessions = read_provenance(view.path)
        what = describe(sessions[-1]) if sessions else "not recorded (a run from before it was)"
        print(visible_line(f"  {view.label}: {what}"))  # a stranger's file: never raw


def carries(tags: Sequence[str], wanted: Sequence[str]) -> bool:
    """The run carries every tag wanted; case is ignored (`Baseline` is `baseline`)."""
    have = {t.casefold() for t in tags}
    return all(w.casefold() in have for w in wanted)


# -- as data -------------------------------------------------------------------------------

FIELDS = ("name", "path", "ladder", "model", "params", "iter", "best_val", "best_val_source",
          "corpus", "checkpoints", "status", "error", "modified", "age_s", "tags",
          "notes")  # fmt: skip


def run_record(view: Any, now: float) -> dict[str, Any]:
    """A run's row as plain values: numbers as numbers, None when unknown, the text as
    the run's files hold it (escaped only where it is shown)."""
    from charlm_tui.tui.tables import model_label

    best = view.best_val
    record = {
        "name": view.label,
        "path": str(view.path),
        "ladder": view.group or None,
        "model": model_label(view),
        "params": view.n_params,
        "iter": view.resume_iter,
        "best_val": best.loss if best else None,
        "best_val_source": best.source if best else None,
        "corpus": view.corpus,
        "checkpoints": list(view.checkpoint_files),
        "status": view.status,
        "error": view.error,
        "modified": view.modified,
        "age_s": max(0.0, now - view.modified),
        "tags": list(view.labels.tags),
        "notes": view.labels.notes,
    }
    assert tuple(record) == FIELDS
    return record


def to_json(records: list[dict[str, Any]]) -> str:
    from charlm_tui.core.runs.records import dump_json

    # ASCII: JSON's own escapes, so a name never reaches a terminal raw, and parses back exact.
    return dump_json(records, indent=2, ensure_ascii=True) + "\n"


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):  # tags and checkpoint names hold no comma
        return ",".join(value)
    return "" if value is None else repr(value) if isinstance(value, float) else value


def to_csv(records: list[dict[str, Any]]) -> str:
    """A header and one row per run; every cell quoted (notes may hold commas, quotes and
    line breaks), numbers included, so a spreadsheet reads each as the text written."""
    buf = io.StringIO()
    fields = list(FIELDS) + (["ran_with"] if records and "ran_with" in records[0] else [])
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_value(v) for k, v in record.items()})
    return buf.getvalue()


def write_data(text: str) -> None:
    """JSON or CSV as it is into a pipe or a file (UTF-8, a folder name's undecodable
    bytes as they were); on a terminal, control characters shown as escapes."""
    from charlm_tui.core.text.display import visible

    if sys.stdout.isatty():
        print(visible(text), end="")
        return
    try:
        data = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from a JSON file, not from a file name
        data = text.encode("utf-8", errors="backslashreplace")
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        print(text, end="")
        return
    sys.stdout.flush()
    out.write(data)
    out.flush()
