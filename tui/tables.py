"""The two tables of runs, as text: the runs table (home and `charlm-tui runs`) and the
comparison (the compare screen, `compare --no-ui` and the ladder's summary).

Both read run views (core/runs/view.py). A value that is unknown is `–`; an estimated
validation number carries `~` (an estimate on the eval batches of training, where the
full split was not scored: VAL_NOTE). Names, corpora and errors come from folders
anyone may write: every cell is escaped (core/text/display.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.cells import cell_len

from charlm_tui.core.config import shape_label
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.report.rows import Row as Row  # the rows live in core: reports use them
from charlm_tui.core.report.rows import row_of as row_of
from charlm_tui.core.runs.view import BestVal, RunView, config_differs
from charlm_tui.core.text.display import visible_line
from charlm_tui.tui.formatting import (
    cut_end,
    fmt_age,
    fmt_count,
    fmt_duration,
    shorten_middle,
    status_word,
    visible,
)

VAL_NOTE = (
    "val: best.pt scored on every position of the val split (as `charlm-tui eval`); "
    "~ marks the best eval-batch estimate from metrics.jsonl instead (not yet scored: "
    "`charlm-tui compare --full-eval`). train loss and gap (val - train): the eval-batch "
    "estimates of best.pt's eval."
)
BEST_NOTE = (
    "best val: ~ an estimate on the eval batches of training; without ~, best.pt on every "
    "position of the val split (scored by compare --full-eval or a ladder)"
)


def val_cell(best: BestVal | None, value: float | None = None, fmt: str = ".4f") -> str:
    """A validation number, `~` before an estimate; `–` when there is none."""
    if best is None or value is None:
        return "–"
    return ("~" if best.estimated else "") + format(value, fmt)


# -- the runs table ------------------------------------------------------------------------

RUNS_COLUMNS = ("run", "tags", "model", "params", "iter", "best val", "corpus", "checkpoints",
                "status", "age")  # fmt: skip
RIGHT = frozenset({"params", "iter", "best val", "age"})
# Below NARROW cells the model, its size and the checkpoints leave the table (home's line
# under it names the selected run's model); under WIDE the checkpoints do. The status and
# age always stay.
NARROW, WIDE = 100, 130
NARROW_DROPS = ("model", "params", "checkpoints")
# The tags column is there when a listed run has tags (labels.json), at most TAGS_CELLS
# wide on a terminal: a run's name says more than its twentieth tag.
TAGS_CELLS = 24
# When the table is still too wide, these give up cells, in order, down to a minimum:
# paths and names are cut in the middle (their start and the file name stay), the
# model's shape and the tags at their end; numbers, status and age are never cut.
SHRINK = (("tags", 12), ("corpus", 16), ("run", 16), ("model", 10), ("corpus", 9), ("run", 9),
          ("tags", 6))  # fmt: skip
CUT_AT_END = frozenset({"model", "tags"})
PADDING = 2


def runs_columns(width: int | None, tags: bool = True) -> tuple[str, ...]:
    """The runs table's columns at a width (None: a pipe, which gets them all); with
    `tags` False (no run has any), no tags column."""
    drops: tuple[str, ...] = () if tags else ("tags",)
    if width is not None and width < WIDE:
        drops += NARROW_DROPS if width < NARROW else ("checkpoints",)
    return tuple(c for c in RUNS_COLUMNS if c not in drops)


def model_label(view: RunView) -> str:
    """`gpt 3×4×128 · block 128`; where config.json contradicts the run's records, the
    records' architecture and a mark: `gpt (config.json differs)`."""
    if config_differs(view) and view.start is not None:
        return f"{view.start.model} (config.json differs)"
    return shape_label(view.model)


def run_cells(view: RunView, now: float) -> dict[str, str]:
    """A run's cells, as plain text."""
    best = view.best_val
    status = status_word(view.status) + (f": {view.error}" if view.error else "")
    it = view.resume_iter
    return {
        "run": view.label,
        "tags": " ".join(view.labels.tags),
        "model": model_label(view),
        "params": f"{view.n_params:,}" if view.n_params else "–",
        "iter": f"{it:,}" if it is not None else "–",
        "best val": val_cell(best, best.loss if best else None),
        "corpus": view.corpus,
        "checkpoints": ",".join(c.removesuffix(".pt") for c in view.checkpoint_files) or "–",
        "status": status,
        "age": fmt_age(max(0.0, now - view.modified)),
    }


def runs_table(
    views: Sequence[RunView], now: float, width: int | None
) -> tuple[tuple[str, ...], list[dict[str, str]]]:
    """(columns, rows) of the runs table in `width` cells (None: no limit), escaped."""
    columns = runs_columns(width, any(view.labels.tags for view in views))
    rows = [{c: visible(v) for c, v in run_cells(view, now).items()} for view in views]
    if width is not None:
        cells = [{**r, "tags": cut_end(r["tags"], TAGS_CELLS)} for r in rows]
        rows = fit_rows(cells, width, columns, SHRINK, PADDING)
        if "tags" in columns and rows and table_width(rows, columns) > width:
            # Too narrow for them even cut (60 columns): home's line under the table
            # shows the selected run's tags.
            columns = tuple(c for c in columns if c != "tags")
            rows = fit_rows(cells, width, columns, SHRINK, PADDING)
    return columns, rows


def table_width(rows: list[dict[str, str]], columns: tuple[str, ...]) -> int:
    widths = (max(cell_len(c), *(cell_len(r[c]) for r in rows)) for c in columns)
    return sum(widths) + PADDING * len(columns)


def fit_rows(
    rows: list[dict[str, str]],
    width: int,
    columns: tuple[str, ...],
    shrink: tuple[tuple[str, int], ...],
    padding: int = PADDING,
) -> list[dict[str, str]]:
    """Table rows whose columns fit `width` cells: `shrink` names the columns that give
    way, in order, each down to a minimum; "model" is cut at its end, the others (paths,
    names) in the middle. The rest (numbers, status, age) are never cut."""
    if not rows:
        return rows
    limits = {c: max(cell_len(c), *(cell_len(r[c]) for r in rows)) for c in columns}
    over = sum(limits.values()) + padding * len(columns) - width
    for col, least in shrink:
        if over <= 0:
            break
        if col in limits:
            cut = min(over, max(0, limits[col] - max(least, cell_len(col))))
            limits[col] -= cut
            over -= cut
    cut = {c: cut_end if c in CUT_AT_END else shorten_middle for c in columns}
    return [{c: cut[c](r[c], limits[c]) for c in columns} for r in rows]


# -- the comparison ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = True


# The numbers people compare first come first: at 80 columns the table shows the run, its
# losses and accuracies, and scrolls sideways to the rest.
COLUMNS: tuple[Column, ...] = (
    Column("name", "run", False),
    Column("model", "model", False),
    Column("params", "params"),
    Column("val_loss", "val loss"),
    Column("val_bpc", "val bpc"),
    Column("val_top1", "top@1"),
    Column("val_top5", "top@5"),
    Column("gap", "gap"),
    Column("seconds", "time"),
    Column("status", "status", False),
    Column("iters", "iters"),
    Column("chars", "chars seen"),
    Column("shape", "shape · block", False),
    Column("optimizer", "opt", False),
    Column("lr", "lr"),
    Column("batch", "batch"),
    Column("tags", "tags", False),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
DELTAS = ("val_loss", "val_top1")  # what a baseline's differences are shown for


def with_baseline(rows: Sequence[Row], baseline: str | None) -> list[Row]:
    """Rows with their differences from the baseline row (by name) in `deltas`."""
    base = next((r for r in rows if r.name == baseline), None)
    if base is None:
        return list(rows)
    out = []
    for r in rows:
        deltas = {}
        for key in DELTAS:
            mine, theirs = r.value(key), base.value(key)
            deltas[key] = mine - theirs if mine is not None and theirs is not None else None
        out.append(replace(r, deltas=deltas))
    return out


def sort_rows(rows: Iterable[Row], key: str, reverse: bool = False) -> list[Row]:
    """By one column; rows without a value go last either way."""
    if key not in COLUMN_KEYS:
        raise CharLMError(f"--sort must be one of {', '.join(COLUMN_KEYS)}, not {key!r}")
    rows = list(rows)
    have = [r for r in rows if r.value(key) is not None]
    lack = [r for r in rows if r.value(key) is None]

    def by(r: Row) -> Any:
        v = r.value(key)
        return v.lower() if isinstance(v, str) else v

    return sorted(have, key=by, reverse=reverse) + lack


def matches(row: Row, query: str) -> bool:
    """Every word of the query appears in the row's name, model, shape, optimizer, status,
    tags or notes."""
    hay = " ".join((row.name, row.model, row.shape, row.optimizer, row.status, *row.tags))
    hay = f"{hay} {row.notes}".lower()
    return all(word in hay for word in query.lower().split())


def pick_baseline(rows: Sequence[Row], baseline: str | None) -> str | None:
    """The baseline's row name, given a run's name or path."""
    if baseline is None:
        return None
    for r in rows:
        if baseline in (r.name, r.path) or Path(baseline).resolve() == Path(r.path).resolve():
            return r.name
    raise CharLMError(
        f"--baseline {baseline!r} is not one of the runs compared: "
        + ", ".join(r.name for r in rows)
    )


def cell(row: Row, key: str) -> str:
    """A value as a table shows it ("–" when unknown); ~ marks an estimated val number."""
    v = row.value(key)
    if v is None:
        return "–"
    est = "~" if key.startswith("val_") and row.val_source == "estimate" else ""
    if key in ("val_loss", "gap"):
        return f"{est}{v:.4f}" if key == "val_loss" else f"{v:+.4f}"
    if key == "val_bpc":
        return f"{est}{v:.3f}"
    if key in ("val_top1", "val_top5"):
        return f"{est}{v:.1%}"
    if key in ("params", "chars"):
        return fmt_count(v)
    if key == "iters":
        return f"{v:,}"
    if key == "lr":
        return f"{v:.0e}" if v == float(f"{v:.0e}") else f"{v:.2e}"
    if key == "seconds":
        return fmt_duration(v, clock=False)
    if key == "tags":
        return visible_line(" ".join(v)) if v else "–"
    return visible_line(str(v))


def delta_cell(row: Row, key: str) -> str:
    d = row.deltas.get(key)
    if d is None or not math.isfinite(d):
        return "–"
    return f"{d:+.1%}" if key == "val_top1" else f"{d:+.4f}"
