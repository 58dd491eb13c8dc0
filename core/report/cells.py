"""The report's tables as plain text cells, the same in Markdown and HTML: the results
table (the experiment log's columns), the model summary and the samples' headings.

Cells hold raw text; a run name or a layer name is anybody's, so each format escapes
every cell its own way.
"""

from __future__ import annotations

import math

from charlm_tui.core.report.content import Report, Result, RunPart
from charlm_tui.core.report.groups import Table

# (title, right-aligned). A run's tags follow its name in the run cell.
RESULT_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("run", False),
    ("model", False),
    ("params", True),
    ("train loss", True),
    ("val loss", True),
    ("val bpc", True),
    ("val top@1", True),
    ("val top@5", True),
    ("t_train", True),
    ("t_eval", True),
    ("tokens/s", True),
    ("iters", True),
    ("losses scored on", False),
)
LOSS_NOTE = (
    "Losses in nats per character; bits/char is val loss / ln 2. Val numbers are best.pt's: "
    "on every position of the val split where it was scored (`charlm-tui report "
    "--full-eval`, `compare --full-eval`, a ladder), else the lowest estimate of the "
    "training's evals, marked ~, on the eval batches named. The train loss is always that "
    "eval's estimate. t_train and t_eval: seconds training and evaluating, summed over "
    "the run's evals; tokens/s: characters trained on per training second."
)


def runs_word(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    if s < 100:
        return f"{s:.1f}s"
    m, sec = divmod(round(s), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{sec:02d}s"


def count(n: float | None) -> str:
    """950, 12.3k, 4.1M: the tokens/s column."""
    if n is None or not math.isfinite(n):
        return "–"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _num(v: float | None, fmt: str, mark: str = "") -> str:
    return "–" if v is None or not math.isfinite(v) else mark + format(v, fmt)


def result_cells(result: Result) -> list[str]:
    r = result.row
    est = "~" if r.val_source == "estimate" else ""
    return [
        f"{r.name} [{' '.join(r.tags)}]" if r.tags else r.name,
        result.model,
        f"{r.params:,}" if r.params is not None else "–",
        _num(r.train_loss, ".4f", "~"),
        _num(r.val_loss, ".4f", est),
        _num(r.val_bpc, ".3f", est),
        _num(r.val_top1, ".2%", est),
        _num(r.val_top5, ".2%", est),
        seconds(result.t_train),
        seconds(result.t_eval),
        count(result.tokens_per_s),
        f"{r.iters:,}",
        f"val: {result.val_on}; train: {result.train_on}",
    ]


def layer_rows(part: RunPart) -> list[tuple[str, str, str]]:
    """(layer, type, params) of the model, then its total: the dashboard's Model tab."""
    rows = [(row.name, row.kind, f"{row.params:,}") for row in part.layers]
    total = part.view.n_params
    if rows and total is not None:
        rows.append(("total", "", f"{total:,}"))
    return rows


def run_line(part: RunPart) -> str:
    """`gpt 1×1×32 · block 32 · 19,393 parameters · finished at iteration 400`."""
    r = part.result.row
    params = f"{r.params:,} parameters" if r.params is not None else "parameters unknown"
    return f"{part.result.model} · {params} · {r.status} at iteration {r.iters:,}"


def sweep_table(report: Report) -> Table:
    """Each swept option's values (by rung, where a ladder has several): how many runs,
    and their best val loss."""
    rows = [[s.option, series or "–", f"{x:g}", str(stat.n), stat.text()]
            for s in report.sweeps for series in s.series()
            for x, stat in s.at_each_value(series)]  # fmt: skip
    head = ["option", "rung", "value", "runs", "best val loss"]
    return head, rows, [False, False, True, True, True]


GROUPS_NOTE = (
    "Seed groups: runs whose configuration differs only in the seed (and in how they "
    "report), mean ± sample std over the group; the test compares best val losses."
)
