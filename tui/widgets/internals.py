"""The dashboard's internals pane (`n`): each layer's update-to-data ratio over the run,
with a guide line at the conventional −3, and each layer's latest activations,
saturation and gradient norm (core/internals/ measures them; the run's `internals`
records carry them, so a finished run shows the same as a live one).

A layer's ratio is the mean of the log10 ratios of its weight matrices (a GPT block has
four; an LSTM layer two), so one line per row of the model summary fits a small chart.
The table's layer names, in their line's colour, are the chart's legend.
"""

from __future__ import annotations

import math
import statistics

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from charlm_tui.core.internals.stats import GUIDE, LayerStats
from charlm_tui.core.runs.events import InternalsEvent
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import visible_text
from charlm_tui.tui.widgets.loss_chart import RGB, CurvePlot, Series, color_of

GUIDE_COLOR: RGB = (120, 120, 120)
# How each saturation rule reads in the table: what the fraction counts.
RULE_LABELS = {"tanh": "tanh", "sigmoid": "gates", "relu": "≤0"}
FAR = 1.0  # a ratio this many decades from the guide is shown in warning colours


def layer_ratios(event: InternalsEvent) -> dict[str, float]:
    """Each layer's ratio at one recording: the mean of its matrices' finite log10
    ratios (a layer without a weight matrix, or none finite, has none)."""
    by_layer: dict[str, list[float]] = {}
    for w in event.weights:
        if math.isfinite(w.ratio):
            by_layer.setdefault(w.layer, []).append(w.ratio)
    return {layer: statistics.fmean(values) for layer, values in by_layer.items()}


def ratio_series(view: RunView) -> list[Series]:
    """One line per layer over the iterations recorded, in the summary's order."""
    points: dict[str, tuple[list[float], list[float]]] = {}
    for event in view.internals:
        for layer, ratio in layer_ratios(event).items():
            xs, ys = points.setdefault(layer, ([], []))
            xs.append(float(event.iter))
            ys.append(ratio)
    colors = layer_colors(view)
    return [Series(name, colors[name], *points[name]) for name in colors if name in points]


def layer_colors(view: RunView) -> dict[str, RGB]:
    """A colour for each layer of the latest recording, in its order (the summary's)."""
    last = view.last_internals
    return {row.name: color_of(i) for i, row in enumerate(last.layers)} if last else {}


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.{digits}g}"


def saturation(row: LayerStats) -> Text:
    if row.saturated is None or not row.rule:
        return Text("–", style="dim")
    share = row.saturated
    text = Text(f"{share:.0%}" if math.isfinite(share) else "nan")
    if row.rule != "relu" and math.isfinite(share) and share > 0.05:
        text.stylize("yellow")  # a saturated tanh or gate passes almost no gradient
    text.append(f" {RULE_LABELS.get(row.rule, row.rule)}", style="dim")
    return text


def ratio_cell(ratio: float | None) -> Text:
    if ratio is None:
        return Text("–", style="dim")
    far = abs(ratio - GUIDE) > FAR
    return Text(f"{ratio:+.2f}", style="yellow" if far else "")


def internals_table(view: RunView) -> Table | Text:
    """The latest recording, a row per layer: its ratio, activation mean and std,
    saturation and gradient norm. Names come from the run's records: escaped."""
    last = view.last_internals
    if last is None:
        return Text("")
    ratios = layer_ratios(last)
    table = Table(box=None, pad_edge=False, expand=False, header_style="bold")
    columns = (("layer", "left"), ("upd/w", "right"), ("act mean", "right"),
               ("act std", "right"), ("saturated", "left"), ("grad", "right"))  # fmt: skip
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    colors = {s.label: s.color for s in ratio_series(view)}  # the layers with a line
    for row in last.layers:
        name = visible_text(row.name)
        color = colors.get(row.name)
        mark = Text("━ ", style=Style(color=f"rgb{color}") if color else "dim")
        table.add_row(
            mark + name,
            ratio_cell(ratios.get(row.name)),
            number(row.mean),
            number(row.std),
            saturation(row),
            number(row.grad_norm),
        )
    return table


class InternalsPane(Vertical):
    """The chart over the table; hidden until the dashboard's `n` shows it."""

    DEFAULT_CSS = """
    InternalsPane { height: 1fr; border: round $primary; padding: 0 1; }
    InternalsPane #internals-plot { height: 1fr; min-height: 5; }
    InternalsPane #internals-table { height: auto; max-height: 60%; }
    """

    def compose(self) -> ComposeResult:
        yield CurvePlot(id="internals-plot", empty="", label_width=5)
        yield Static(id="internals-table")

    def on_mount(self) -> None:
        self.border_title = f"update-to-data ratio per layer, log10 · grey: {GUIDE:g}"
        self.border_subtitle = "n: back"

    def show(self, view: RunView) -> None:
        plot = self.query_one("#internals-plot", CurvePlot)
        last = view.last_internals
        if last is None:
            plot.empty = empty_text(view)
            plot.draw([], "iter")
            self.query_one("#internals-table", Static).update("")
            self.border_subtitle = "n: back"
            return
        series = ratio_series(view)
        xs = [x for s in series for x in s.xs]
        if xs:
            lo, hi = min(xs), max(xs)
            # first: the layers' lines are drawn over it
            series.insert(0, Series(f"{GUIDE:g}", GUIDE_COLOR, [lo, hi], [GUIDE, GUIDE]))
        plot.draw(series, "iter")
        self.query_one("#internals-table", Static).update(internals_table(view))
        self.border_subtitle = f"iter {last.iter:,} · n: back"


def empty_text(view: RunView) -> str:
    every = view.train.get("internals_interval")
    if every == 0:
        return "no internals: this run was trained with --internals-interval 0"
    if isinstance(every, int) and every > 0:
        return f"no internals recorded yet: every {every:,} steps (--internals-interval)"
    return "no internals in this run's records (--internals-interval)"
