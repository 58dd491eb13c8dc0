"""The report's charts of spread, by matplotlib like its others (core/report/charts.py):
each seed group's mean val loss with its runs' min–max band, and val loss against each
option the runs sweep, a point per run and a line through the means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from charlm_tui.core.report.charts import COLORS, X_TITLES, Chart, chart_label, render
from charlm_tui.core.report.content import Report, Sweep
from charlm_tui.core.report.groups import band


def groups_chart(report: Report) -> Chart | None:
    """Each seed group's mean val loss, its runs' min–max band shaded; None without
    replicas or curves."""
    if not report.groups:
        return None
    curves = {p.result.name: p.curves.val for p in report.runs}
    drawn = [(g, band([curves[r.name] for r in g.rows if r.name in curves]))
             for g in report.groups]  # fmt: skip
    if not any(xs for _, (xs, *_rest) in drawn):
        return None

    def draw(fig: Any, ax: Any) -> None:
        for i, (g, (xs, mean, lo, hi)) in enumerate(drawn):
            if not xs:
                continue
            color = COLORS[i % len(COLORS)]
            ax.plot(xs, mean, color=color, linewidth=1.8, label=chart_label(f"{g.name} (n={g.n})"))
            if g.n > 1:
                ax.fill_between(xs, lo, hi, color=color, alpha=0.18, linewidth=0)
        ax.set_xlabel(X_TITLES[report.chart.x])
        ax.set_ylabel("val loss (eval batches): mean, min–max band")
        if report.chart.log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)

    return render(draw, figsize=(8, 4.5))


def log_x(xs: Sequence[float]) -> bool:
    """A log axis for values spanning ten times or more (learning rates), all positive."""
    return min(xs) > 0 and max(xs) / min(xs) >= 10


def sweep_chart(sweeps: Sequence[Sweep]) -> Chart | None:
    """Best val loss against each swept option, side by side: a point per run, the mean
    at each value joined by a line."""
    if not sweeps:
        return None

    def draw(fig: Any, axes: Any) -> None:
        from matplotlib.ticker import NullFormatter

        for ax, sweep in zip(axes[0], sweeps, strict=True):
            for i, series in enumerate(sweep.series()):  # a rung each, in its own colour
                color = COLORS[i % len(COLORS)]
                mine = [(x, y) for x, y, s in sweep.points if s == series]
                ax.scatter([x for x, _ in mine], [y for _, y in mine], color=color, s=14,
                           alpha=0.7, label=chart_label(series) if series else None)  # fmt: skip
                means = [(x, s.mean) for x, s in sweep.at_each_value(series) if s.mean is not None]
                ax.plot([x for x, _ in means], [m for _, m in means], color=color, linewidth=1.2)
            values = sorted({x for x, _, _ in sweep.points})
            if log_x(values):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap
            ax.set_xticks(values, [f"{v:g}" for v in values])  # the values swept, as given
            ax.set_xlabel(chart_label(sweep.option))
            ax.grid(alpha=0.3)
            if len(sweep.series()) > 1:
                ax.legend(fontsize=8)
        axes[0][0].set_ylabel("best val loss")

    n = len(sweeps)
    return render(draw, ncols=n, figsize=(min(4 * n, 12), 3.6), sharey=True, squeeze=False)
