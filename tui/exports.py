"""A comparison as a file: markdown (the experiment log's table, ready to paste), CSV and
JSON for scripts. The rows are tui/tables.py's; untrusted names are escaped for each
format (a run name cannot break a markdown table or reach a terminal raw). Markdown says
under its table when the runs trained on different corpora; CSV and JSON carry each
run's corpus and its sha256 (`compare` warns on stderr)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from charlm_tui.core.report.groups import (
    CONFIDENCE,
    Table,
    differences,
    group_rows,
    group_table,
    replicated,
    test_table,
)
from charlm_tui.core.report.rows import corpora_differ, corpus_label, corpus_warning
from charlm_tui.core.runs.provenance import differing
from charlm_tui.core.runs.records import dump_json
from charlm_tui.core.text.display import visible_line
from charlm_tui.tui.tables import DELTAS, VAL_NOTE, Row, cell, delta_cell

MARKDOWN = (
    ("name", "run"),
    ("model", "model"),
    ("shape", "shape · block"),
    ("corpus", "corpus"),
    ("params", "params"),
    ("iters", "iters"),
    ("seconds", "time"),
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
    ("val_bpc", "val bpc"),
    ("val_top1", "top@1"),
    ("val_top5", "top@5"),
)


def _md(text: str) -> str:
    # a run name is anybody's text: keep it from breaking the table or running markup
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")
    return text.replace("<", "\\<").replace(">", "\\>")  # text, never an HTML tag


def to_markdown(rows: Sequence[Row], baseline: str | None = None) -> str:
    """The seed's experiment log: one row per run, ready to paste."""
    cols = list(MARKDOWN)
    if any(r.tags for r in rows):  # after the run's name: what people called it
        cols.insert(1, ("tags", "tags"))
    if baseline is not None:
        cols += [(f"delta:{k}", f"Δ {'val loss' if k == 'val_loss' else 'top@1'}") for k in DELTAS]
    right = {k for k, _ in cols if k not in ("name", "tags", "model", "shape", "corpus")}
    differ = corpora_differ(rows)
    lines = [
        "| " + " | ".join(t for _, t in cols) + " |",
        "|" + "|".join("---:" if k in right else "---" for k, _ in cols) + "|",
    ]
    for r in rows:
        cells = []
        for k, _ in cols:
            if k.startswith("delta:"):
                cells.append("base" if r.name == baseline else delta_cell(r, k[6:]))
            elif k == "corpus":  # the same --data may name two texts: then their hashes too
                cells.append(_md(visible_line(corpus_label(r) if differ else r.corpus)))
            elif k == "train_loss":
                cells.append(f"{r.train_loss:.4f}" if r.train_loss is not None else "–")
            else:
                cells.append(_md(cell(r, k)))
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"- {_md(visible_line(r.name))}: {_md(visible_line(' '.join(r.notes.splitlines())))}"
        for r in rows
        if r.notes
    ]
    lines += ["", "Notes:", "", *notes] if notes else []
    if ran := differing([r.ran_with for r in rows]):  # torch, the commit, the machine...
        lines += ["", "Ran with different:", ""]
        for name, values in ran.items():
            each = ", ".join(
                f"{r.name} {'–' if v is None else v}" for r, v in zip(rows, values, strict=True)
            )
            lines.append(f"- {name}: {_md(visible_line(each))}")
    note = VAL_NOTE + (f" Δ: difference from {_md(baseline)}." if baseline else "")
    warning = corpus_warning(rows)
    extra = ["", f"**{_md(visible_line(warning))}**"] if warning else []
    return "\n".join([*lines, "", note, *extra]) + "\n"


EXPORT_FIELDS = (
    "name",
    "path",
    "model",
    "params",
    "shape",
    "corpus",
    "corpus_sha256",
    "optimizer",
    "lr",
    "batch",
    "iters",
    "chars",
    "seconds",
    "train_loss",
    "val_loss",
    "val_bpc",
    "val_top1",
    "val_top5",
    "gap",
    "status",
    "val_source",
    "best_iter",
    "tags",
    "notes",
)


def records(rows: Sequence[Row], baseline: str | None = None) -> list[dict[str, Any]]:
    """Plain values per row (JSON and CSV): numbers as numbers, None when unknown."""
    out = []
    for r in rows:
        rec = {k: r.value(k) for k in EXPORT_FIELDS}
        rec["tags"] = list(r.tags)
        if baseline is not None:
            rec.update({f"delta_{k}": r.deltas.get(k) for k in DELTAS})
        out.append(rec)
    return out


def to_json(rows: Sequence[Row], baseline: str | None = None) -> str:
    # ASCII: JSON's own escapes, so names never reach a terminal raw, and parse back exact
    recs = [
        {**rec, "ran_with": r.ran_with}
        for rec, r in zip(records(rows, baseline), rows, strict=True)
    ]
    return dump_json(recs, indent=2, ensure_ascii=True) + "\n"


def _csv_value(v: Any) -> Any:
    if isinstance(v, list):  # tags: one word each, so a space parts them
        v = " ".join(v)
    if isinstance(v, str):  # CSV has no escapes of its own: control characters never raw
        return visible_line(v)
    return "" if v is None else repr(v) if isinstance(v, float) else v


def to_csv(rows: Sequence[Row], baseline: str | None = None) -> str:
    recs = records(rows, baseline)
    fields = list(EXPORT_FIELDS) + ([f"delta_{k}" for k in DELTAS] if baseline else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for rec in recs:
        # floats by repr, so a reader gets back exactly the number written
        writer.writerow({k: _csv_value(v) for k, v in rec.items()})
    return buf.getvalue()


def groups_markdown(rows: Sequence[Row], baseline: str | None = None) -> str:
    """The runs' seed groups, when some group holds replicas: n and mean ± std of each
    number, then each group's difference from the baseline group with its 95% confidence
    interval and Welch's p. Empty when every run is a group of its own."""
    groups = group_rows(rows)
    if not replicated(groups):
        return ""
    lines = [
        "",
        "Seed groups (runs whose configuration differs only in the seed; mean ± sample std):",
        "",
        _md_table(group_table(groups)),
    ]
    diffs = differences(groups, baseline)
    if diffs:
        lines += [
            "",
            f"Best val loss against {_md(visible_line(diffs[0].b))} (difference of means, "
            f"{CONFIDENCE:.0%} confidence interval, Welch's t-test):",
            "",
            _md_table(test_table(diffs)),
        ]
    return "\n".join(lines) + "\n"


def _md_table(t: Table) -> str:
    head, rows, right = t
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if r else "---" for r in right) + "|",
    ]
    lines += ["| " + " | ".join(_md(visible_line(c)) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def groups_json(rows: Sequence[Row], baseline: str | None = None) -> str:
    """The seed groups as JSON: each group's record, and each group's test against the
    baseline group (ASCII, as to_json)."""
    groups = group_rows(rows)
    body = {
        "groups": [g.record() for g in groups],
        "differences": [d.record() for d in differences(groups, baseline)],
    }
    return dump_json(body, indent=2, ensure_ascii=True) + "\n"


def groups_csv(rows: Sequence[Row], baseline: str | None = None) -> str:
    """One line per seed group: n, seeds, its runs, each number's mean/std/min/max, and
    its difference from the baseline group (Welch)."""
    groups = group_rows(rows)
    tests = {d.a: d for d in differences(groups, baseline)}
    recs = []
    for g in groups:
        rec = g.record()
        rec["seeds"] = [s for s in rec["seeds"] if s is not None]
        rec["runs"] = " ".join(rec["runs"])
        d = tests.get(g.name)
        rec.update(diff=d.diff if d else None, ci_low=d.lo if d else None,
                   ci_high=d.hi if d else None, p=d.p if d else None)  # fmt: skip
        recs.append(rec)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(recs[0]) if recs else [], lineterminator="\n")
    writer.writeheader()
    for rec in recs:
        writer.writerow({k: _csv_value([str(s) for s in v] if k == "seeds" else v)
                         for k, v in rec.items()})  # fmt: skip
    return buf.getvalue()
