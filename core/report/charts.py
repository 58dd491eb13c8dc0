"""The report's loss chart as PNG and SVG, drawn by matplotlib (the optional `report`
extra), imported only here and only when a chart is drawn, with the Agg backend (no
display needed).

Every run in its own colour: val loss solid with a dot per eval, train loss (the same
evals' train batches) dashed, the loss of every logged step faint beneath, steering
changes as dotted vertical lines. Smoothing is the dashboard's (core/report/curves.py
`ema`), with the raw curve left faint behind it, as on the dashboard. Run names are
anybody's text: shown with control characters escaped, and never read as mathtext.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from charlm_tui.core.report.content import ChartOptions, RunPart
from charlm_tui.core.report.curves import ema
from charlm_tui.core.text.display import visible_line

INSTALL = 'pip install "charlm-tui[report]"'
X_TITLES = {"iter": "iteration", "chars": "characters seen", "seconds": "training seconds"}
# Colour-blind-friendly and distinct on white (Okabe and Ito's palette), then matplotlib's.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


class ChartsUnavailable(Exception):
    """matplotlib cannot be imported: the report says how to get it."""


@dataclass(frozen=True)
class Chart:
    png: bytes
    svg: str


def chart_label(name: str) -> str:
    """A run name as a legend shows it: escapes for control characters, `$` never starting
    mathtext, and a leading `_` (which hides a legend entry) kept visible."""
    shown = visible_line(name).replace("$", r"\$")
    return " " + shown if shown.startswith("_") else shown


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChartsUnavailable(f"{INSTALL} to get them") from None
    return matplotlib, plt


def _smooth(ys: Sequence[float], weight: float) -> list[float]:
    return ema(ys, weight) if weight > 0 else list(ys)


def loss_chart(runs: Sequence[RunPart], options: ChartOptions) -> Chart | None:
    """Train and val loss of every run on one chart, or None when no run has a curve."""
    if not any(p.curves.val[0] or p.curves.steps[0] for p in runs):
        return None
    matplotlib, plt = _pyplot()
    with matplotlib.rc_context(
        {"svg.hashsalt": "charlm-tui", "svg.fonttype": "path", "font.size": 9}
    ):
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110, layout="constrained")
        try:
            _draw(ax, runs, options)
            png, svg = io.BytesIO(), io.StringIO()
            # No dates or versions in the files: the same runs give the same bytes.
            fig.savefig(png, format="png", metadata={"Software": None})
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)
    return Chart(png.getvalue(), svg.getvalue())


def _draw(ax, runs: Sequence[RunPart], options: ChartOptions) -> None:
    w = options.smooth
    for i, part in enumerate(runs):
        color = COLORS[i % len(COLORS)]
        c = part.curves
        sx, sy = c.steps
        if sx:  # beneath the evals' lines, which are what the runs are compared by
            ax.plot(sx, sy, color=color, alpha=0.15 if w > 0 else 0.35, linewidth=0.8)
            if w > 0:
                ax.plot(sx, _smooth(sy, w), color=color, alpha=0.45, linewidth=0.9)
        tx, ty = c.train
        if tx:
            if w > 0:
                ax.plot(tx, ty, color=color, alpha=0.25, linewidth=0.8, linestyle="--")
            ax.plot(tx, _smooth(ty, w), color=color, linestyle="--", linewidth=1.2)
        vx, vy = c.val
        if vx:
            if w > 0:
                ax.plot(vx, vy, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(vx, _smooth(vy, w), color=color, linewidth=1.8, marker="o", markersize=3)
        for x in c.marks:
            ax.axvline(x, color=color, linestyle=":", linewidth=1.0, alpha=0.7)
        # One legend entry per run, in its colour, whatever it has curves of.
        ax.plot([], [], color=color, linewidth=1.8, label=chart_label(part.result.name))
    ax.plot([], [], color="0.4", linewidth=1.8, marker="o", markersize=3, label="val (evals)")
    ax.plot([], [], color="0.4", linestyle="--", label="train (evals)")
    ax.plot([], [], color="0.4", alpha=0.35, label="train (every logged step)")
    if any(p.curves.marks for p in runs):
        ax.plot([], [], color="0.4", linestyle=":", label="steered")
    if options.log_y:
        ax.set_yscale("log")
    ax.set_xlabel(X_TITLES[options.x])
    smooth = f", smoothed (EMA {w:g})" if w > 0 else ""
    ax.set_ylabel(f"loss (nats per character){smooth}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.85)
