"""Loss curves: the dashboard's chart, and the plot and controls the compare screen shares.

Controls (the same keys on the dashboard and the compare screen; the screen binds them
with `CHART_BINDINGS` so they work whatever has focus):

    x      x axis: iteration, characters seen, training seconds
    l      log-y
    ( / )  smoothing: an exponential moving average (0 = raw); the raw curve stays
           behind the smoothed one, faint
    v      the lower chart: learning rate, gradient norm or tokens/s (dashboard)

The legend sits on its own line under the plot, never over the data, and the axes are
ours, not plotext's defaults: whole numbers for iterations, characters as 1.2M, seconds
as 1m30s, and no axes at all until there is something to draw.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static
from textual_plotext import PlotextPlot

from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.curves import X_AXES, XAxis, ema, run_curve, steer_marks
from charlm_tui.tui.formatting import fmt_count, fmt_duration

RGB = tuple[int, int, int]
# One colour per run in a comparison, told apart on dark and light themes alike.
PALETTE: tuple[RGB, ...] = (
    (255, 135, 0),
    (0, 175, 255),
    (215, 95, 215),
    (95, 200, 95),
    (230, 200, 0),
    (255, 85, 85),
    (0, 205, 205),
    (160, 130, 255),
    (200, 160, 100),
    (150, 150, 150),
)
SMOOTHING = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)  # the steps of - and +
SECOND = ("lr", "grad_norm", "tokens_per_s")
SECOND_LABELS = {"lr": "learning rate", "grad_norm": "gradient norm", "tokens_per_s": "tokens/s"}
CURSOR: RGB = (170, 170, 170)
STEER: RGB = (230, 180, 60)  # a vertical line where steering changed a hyperparameter
X_SHORT = {"iter": "iter", "chars": "chars seen", "seconds": "seconds"}

CHART_BINDINGS = [
    Binding("x", "chart('x')", "X axis", show=False),
    Binding("l", "chart('log')", "Log y", show=False),
    # ( and ): + and - steer the learning rate on the dashboard
    Binding("left_parenthesis", "chart('smooth-')", "Less smoothing", show=False),
    Binding("right_parenthesis", "chart('smooth+')", "More smoothing", show=False),
]


def color_of(index: int) -> RGB:
    return PALETTE[index % len(PALETTE)]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """a moved a fraction t of the way towards b."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def swatch(label: str, color: RGB) -> Text:
    text = Text("━ ", style=Style(color=f"rgb{color}"))
    text.append(label)
    return text


@dataclass(frozen=True)
class Series:
    label: str
    color: RGB
    xs: list[float]
    ys: list[float]


# -- axes ----------------------------------------------------------------------------------------


def nice_step(span: float, n: int, integer: bool = False) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about n intervals."""
    raw = span / max(n, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return max(step, 1.0) if integer else step


def nice_ticks(lo: float, hi: float, n: int, integer: bool = False) -> list[float]:
    """Round values inside [lo, hi], about n + 1 of them and at least two where the range
    holds two (whole numbers if integer): a round step can exceed a narrow range (7.05 to
    7.47 in steps of 0.5 holds no tick), so a short chart asks for finer steps then."""
    ticks: list[float] = []
    for finer in (1, 2, 4, 8):
        step = nice_step(hi - lo, n * finer, integer)
        first = math.ceil(lo / step - 1e-9) * step
        ticks, t = [], first
        while t <= hi + step * 1e-9 and len(ticks) < 100:
            ticks.append(round(t, 12))
            t += step
        if len(ticks) >= 2:
            break
    return ticks


def x_label(value: float, axis: XAxis) -> str:
    if axis == "chars":
        return fmt_count(value).replace(".0", "")  # 50k, 1.5M
    if axis == "seconds":
        return fmt_duration(value, clock=False)
    return f"{value:,.0f}"


def y_labels(ticks: Sequence[float]) -> list[str]:
    """As many decimals as the spacing needs: 1.5, 2.0 / 3e-04 / 20k."""
    if not ticks:
        return []
    top = max(abs(t) for t in ticks)
    if top >= 10_000:
        return [fmt_count(t) for t in ticks]
    if 0 < top < 0.01:
        return [f"{t:.0e}" for t in ticks]
    gaps = [b - a for a, b in itertools.pairwise(ticks) if b > a]
    step = min(gaps) if gaps else top or 1.0
    decimals = max(0, min(6, -math.floor(math.log10(step) + 1e-9)))
    # Enough to write each tick exactly (0.95 and 1.05, thinned to one a row, are 0.1
    # apart, yet neither is 0.9 nor 1.1).
    while decimals < 6 and any(
        abs(round(t, decimals) - t) > 1e-9 * max(1.0, abs(t)) for t in ticks
    ):
        decimals += 1
    return [f"{t:.{decimals}f}" for t in ticks]


def one_per_row(
    ticks: Sequence[float], where: Callable[[float], float], lo: float, hi: float, rows: int
) -> list[float]:
    """The ticks that fall in rows of their own, on an axis from lo to hi drawn in `rows`
    rows (`where`: a tick's position on that axis, its log for a log axis)."""
    kept: list[float] = []
    taken: set[int] = set()
    for t in ticks:
        row = round((where(t) - lo) / ((hi - lo) or 1.0) * (rows - 1))
        if row not in taken:
            taken.add(row)
            kept.append(t)
    return kept


def log_ticks(lo: float, hi: float, n: int) -> list[float]:
    """Values to label on a log axis spanning [lo, hi] (both > 0): 1-2-5 per decade when
    it spans decades, round linear values when it spans less."""
    found = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10**exp
            if lo <= v <= hi:
                found.append(float(v))
    if len(found) >= 3:
        return found
    return [t for t in nice_ticks(lo, hi, n) if t > 0]


def downsample(xs: list[float], ys: list[float], n: int) -> tuple[list[float], list[float]]:
    """At most n points: the lowest and the highest y of each of n/2 equal buckets, in
    their order, at the bucket's mean x (a braille cell is two points wide). Means would
    flatten the spikes a chart is looked at for; the envelope keeps every extreme."""
    if len(xs) <= n:
        return xs, ys
    buckets = max(1, n // 2)
    size = len(xs) / buckets
    out_x: list[float] = []
    out_y: list[float] = []
    for i in range(buckets):
        a, b = int(i * size), max(int((i + 1) * size), int(i * size) + 1)
        seg = ys[a:b]
        lo, hi = min(seg), max(seg)
        x = sum(xs[a:b]) / (b - a)
        if lo == hi:
            out_x.append(x)
            out_y.append(lo)
        else:
            first, second = (lo, hi) if seg.index(lo) < seg.index(hi) else (hi, lo)
            out_x += [x, x]
            out_y += [first, second]
    return out_x, out_y


# -- the plot ------------------------------------------------------------------------------------


class CurvePlot(PlotextPlot):
    """Curves on our axes. With nothing to draw it says so instead of plotting empty axes."""

    DEFAULT_CSS = """
    CurvePlot { height: 1fr; }
    """

    def __init__(
        self, empty: str = "waiting for the first steps…", label_width: int = 0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.empty = empty
        self.label_width = label_width  # y labels padded to it: stacked plots' x axes align
        self._has_data = False
        self._drawing: tuple | None = None
        self.x_span: tuple[float, float] | None = None  # the x axis last drawn
        self.built_for: tuple[int, int] | None = None  # the size the axes were laid out for

    @property
    def settled(self) -> bool:
        """Its axes fit the size it has now (a resize lays them out again)."""
        return self._drawing is None or self.built_for == tuple(self.size)

    def render(self) -> RenderResult:
        if not self._has_data:
            return Text(self.empty, style="dim", justify="center")
        return super().render()

    def draw(
        self,
        series: Sequence[Series],
        axis: XAxis,
        log_y: bool = False,
        smoothing: float = 0.0,
        cursor: float | None = None,
        x_range: tuple[float, float] | None = None,
        markers: Sequence[float] = (),
    ) -> None:
        """x_range: the x axis's span instead of the data's (plots stacked in one chart);
        markers: x positions of vertical lines (a steering change)."""
        self._drawing = (list(series), axis, log_y, smoothing, cursor, x_range, list(markers))
        self._build(*self._drawing)

    def on_resize(self) -> None:
        if self._drawing is not None:  # ticks and downsampling depend on the size
            self._build(*self._drawing)

    def _build(
        self,
        series: Sequence[Series],
        axis: XAxis,
        log_y: bool,
        smoothing: float,
        cursor: float | None,
        x_range: tuple[float, float] | None,
        markers: Sequence[float] = (),
    ) -> None:
        self.built_for = tuple(self.size)  # type: ignore[assignment]
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(self.size.width - 8, 10)
        drawn = self._lines(series, log_y, smoothing, 2 * width)  # a braille cell: 2 points
        self._has_data = bool(drawn)
        if not drawn:
            self.refresh()
            return
        all_x = [x for xs, _, _ in drawn for x in xs]
        all_y = [y for _, ys, _ in drawn for y in ys]
        x_lo, x_hi = x_range or (min(all_x), max(all_x))
        if x_hi <= x_lo:
            x_lo, x_hi = max(0.0, x_lo - 1), x_hi + 1
        self.x_span = (x_lo, x_hi)
        for xs, ys, color in drawn:
            plt.plot(
                xs, [math.log10(y) for y in ys] if log_y else ys, marker="braille", color=color
            )
        for x in markers:  # steering changes: from here on, other hyperparameters
            if x_lo <= x <= x_hi:
                plt.vline(x, STEER)
        if cursor is not None and x_lo <= cursor <= x_hi:
            plt.vline(cursor, CURSOR)
        xt = nice_ticks(x_lo, x_hi, max(2, width // 12), integer=axis != "seconds" or x_hi > 10)
        plt.xticks(xt, [x_label(t, axis) for t in xt])
        plt.xlim(x_lo, x_hi)
        self._y_axis(min(all_y), max(all_y), log_y)
        self.refresh()

    def _lines(
        self, series: Sequence[Series], log_y: bool, smoothing: float, points: int
    ) -> list[tuple[list[float], list[float], RGB]]:
        """(xs, ys, colour) of every line to draw, downsampled to `points`: each series
        smoothed, with its raw curve first and faint behind it when smoothing is on."""
        background = self._background()
        drawn: list[tuple[list[float], list[float], RGB]] = []
        for s in series:
            xs, ys = s.xs, s.ys
            if log_y:
                kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
                xs, ys = [x for x, _ in kept], [y for _, y in kept]
            if not xs:
                continue
            smooth = ema(ys, smoothing)
            if smoothing > 0:  # the raw curve first: what is drawn later wins a cell
                drawn.append((*downsample(xs, ys, points), mix(s.color, background, 0.6)))
            drawn.append((*downsample(xs, smooth, points), s.color))
        return drawn

    def _y_axis(self, y_lo: float, y_hi: float, log_y: bool) -> None:
        plt = self.plt
        if y_hi - y_lo <= 1e-9 * max(1.0, abs(y_hi)):  # flat (a constant lr): a band around it
            pad = abs(y_lo) * 0.05 or 1.0
            y_lo, y_hi = (y_lo - pad if not log_y else y_lo / 1.1), y_hi + pad
        rows = max(1, max(self.size.height - 2, 2) // 3)
        where: Callable[[float], float] = math.log10 if log_y else float
        yt = log_ticks(y_lo, y_hi, rows) if log_y else nice_ticks(y_lo, y_hi, rows)
        # Two labels in one row would overlap, and which one plotext keeps varies: one a row.
        # The plot area: the height less its frame, the x axis and its labels.
        yt = one_per_row(yt, where, where(y_lo), where(y_hi), max(1, self.size.height - 3))
        plt.yticks([where(t) for t in yt], self._labels(yt))
        plt.ylim(where(y_lo), where(y_hi))

    def _labels(self, ticks: Sequence[float]) -> list[str]:
        return [label.rjust(self.label_width) for label in y_labels(ticks)]

    def _background(self) -> RGB:
        try:
            return Color.parse(self.app.theme_variables.get("surface", "#000000")).rgb
        except Exception:  # no app yet, or a theme without it
            return (0, 0, 0)


# -- controls, shared by the dashboard's chart and the compare screen's ------------------------


class CurveChart(Vertical):
    """A plot with the x-axis, log-y and smoothing controls; subclasses say what to draw."""

    x_axis: reactive[XAxis] = reactive("iter")
    log_y: reactive[bool] = reactive(False)
    smoothing: reactive[float] = reactive(0.0)

    def control(self, what: str) -> None:
        """One control key: x, log, smooth-, smooth+ (and what subclasses add)."""
        if what == "x":
            self.x_axis = X_AXES[(X_AXES.index(self.x_axis) + 1) % len(X_AXES)]
        elif what == "log":
            self.log_y = not self.log_y
        elif what in ("smooth-", "smooth+"):
            i = min(range(len(SMOOTHING)), key=lambda k: abs(SMOOTHING[k] - self.smoothing))
            i = max(0, i - 1) if what == "smooth-" else min(len(SMOOTHING) - 1, i + 1)
            self.smoothing = SMOOTHING[i]

    def controls_text(self) -> str:
        smooth = f"smooth {self.smoothing:g}" if self.smoothing else "raw"
        return f"vs {X_SHORT[self.x_axis]} · {smooth}" + (" · log-y" if self.log_y else "")

    def watch_x_axis(self) -> None:
        self.redraw()

    def watch_log_y(self) -> None:
        self.redraw()

    def watch_smoothing(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw again with the current controls (subclasses)."""


class LossChart(CurveChart):
    """The dashboard's chart: step loss, train and val loss at each eval, and below it
    the learning rate, gradient norm or tokens/s. Keys: CHART_BINDINGS and `m`."""

    DEFAULT_CSS = """
    LossChart { height: 1fr; }
    LossChart #loss-legend { height: 1; padding: 0 1; }
    LossChart #second-plot { height: 6; display: none; }
    LossChart.-tall #second-plot { display: block; }
    """
    SHOW_SECOND_AT = 16  # rows inside the border: below that, the loss gets them all
    STEPS, TRAIN, VAL = (150, 150, 150), (0, 175, 255), (255, 135, 0)

    second: reactive[str] = reactive("lr")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._view: RunView | None = None

    def compose(self) -> ComposeResult:
        yield CurvePlot(id="loss-plot", label_width=5)  # 3e-03 and 51.2k are 5 wide
        yield Static(id="loss-legend")
        yield CurvePlot(id="second-plot", empty="", label_width=5)

    def on_mount(self) -> None:
        self._titles()

    def on_resize(self) -> None:
        inner = self.content_size.height
        self.set_class(inner >= self.SHOW_SECOND_AT, "-tall")
        if inner >= self.SHOW_SECOND_AT:
            self.query_one("#second-plot").styles.height = max(5, inner // 3)
        self.redraw()

    def control(self, what: str) -> None:
        if what == "second":
            self.second = SECOND[(SECOND.index(self.second) + 1) % len(SECOND)]
            if not self.has_class("-tall"):
                self.notify(
                    f"{SECOND_LABELS[self.second]}: the lower chart needs a taller terminal",
                    timeout=3,
                )
        else:
            super().control(what)

    def watch_second(self) -> None:
        self.redraw()

    def _titles(self) -> None:
        self.border_title = "loss " + self.controls_text()
        below = f" · below: {SECOND_LABELS[self.second]}" if self.has_class("-tall") else ""
        self.border_subtitle = f"x l ( ) v{below}"

    def show(self, view: RunView) -> None:
        self._view = view
        self.redraw()

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        self._titles()
        view = self._view
        if view is None:
            return
        axis = self.x_axis
        series = [
            Series("steps", self.STEPS, *run_curve(view, "loss", axis)),
            Series("train", self.TRAIN, *run_curve(view, "train", axis)),
            Series("val", self.VAL, *run_curve(view, "val", axis)),
        ]
        main = self.query_one("#loss-plot", CurvePlot)
        markers = steer_marks(view, axis)
        main.draw(series, axis, self.log_y, self.smoothing, markers=markers)
        legend = Text("  ").join(swatch(s.label, s.color) for s in series if s.xs)
        self.query_one("#loss-legend", Static).update(legend, layout=False)  # height 1: no relayout
        if self.has_class("-tall"):
            xs, ys = run_curve(view, self.second, axis)  # type: ignore[arg-type]
            second = [Series(self.second, self.TRAIN, xs, ys)]
            span = main.x_span if main._has_data else None  # one x axis for both plots
            self.query_one("#second-plot", CurvePlot).draw(
                second, axis, False, self.smoothing, x_range=span, markers=markers
            )
