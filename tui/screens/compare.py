"""Compare runs: their loss curves on one chart and their numbers in one table.

Opened from home (`space` marks runs, `c` compares them), by `charlm-tui compare RUN...`
and at the end of a ladder. Runs still training grow on the chart and in the table.
The rows are tui/tables.py's and the curves tui/curves.py's, both from the runs' views.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.report.content import ChartOptions, report_views
from charlm_tui.core.report.groups import Group, band, differences, group_rows
from charlm_tui.core.report.rows import corpus_warning
from charlm_tui.core.report.write import default_name, write_report
from charlm_tui.core.runs.listing import load_runs
from charlm_tui.core.runs.scores import FullEval, full_eval, scored_checkpoint
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.text.display import visible_line
from charlm_tui.tui.curves import ema, run_curve, steer_marks, value_at
from charlm_tui.tui.messages import OpenRun
from charlm_tui.tui.tables import (
    COLUMNS,
    VAL_NOTE,
    Row,
    matches,
    row_of,
    sort_rows,
    with_baseline,
)
from charlm_tui.tui.widgets.bars import KeysFooter
from charlm_tui.tui.widgets.compare_table import CompareTable
from charlm_tui.tui.widgets.inputs import FilterInput
from charlm_tui.tui.widgets.loss_chart import (
    CHART_BINDINGS,
    RGB,
    CurveChart,
    CurvePlot,
    Series,
    color_of,
    mix,
    swatch,
    x_label,
)

POLL_S = 1.0  # runs still training: read what they appended once a second
CURSOR_STEPS = 50  # , and . move the cursor by 1/50 of the x range
WHITE: RGB = (255, 255, 255)
DIM: RGB = (70, 70, 70)  # a band's edges fade towards the dark background


class CompareChart(CurveChart):
    """Val loss of every run (train loss on `t`), one colour per run, a legend under the
    plot and, once `,` or `.` is pressed, a cursor: every run's value there goes to the
    table below (a column per run would not fit a line of the chart at 60 columns)."""

    DEFAULT_CSS = """
    CompareChart { height: 1fr; min-height: 11; }
    CompareChart #compare-plot { min-height: 6; }
    CompareChart #compare-legend { height: auto; max-height: 3; padding: 0 1; }
    CompareChart #compare-readout { height: 1; padding: 0 1; color: $text-muted; }
    """

    class CursorMoved(Message):
        """The values at the cursor changed (it moved, went away, or the curves did)."""

    show_train: reactive[bool] = reactive(False)
    cursor: reactive[float | None] = reactive(None)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[tuple[RunView, RGB]] = []
        # Seed groups (`g`): each group's runs and colour; None draws every run.
        self.groups: list[tuple[str, list[RunView], RGB]] | None = None
        self._span: tuple[float, float] | None = None

    def compose(self) -> ComposeResult:
        yield CurvePlot(id="compare-plot", empty="no evaluations yet")
        yield Static(id="compare-legend")
        yield Static(id="compare-readout")

    def show(
        self,
        runs: list[tuple[RunView, RGB]],
        groups: list[tuple[str, list[RunView], RGB]] | None = None,
    ) -> None:
        self.runs, self.groups = runs, groups
        self.redraw()

    def control(self, what: str) -> None:
        if what == "train":
            self.show_train = not self.show_train
        elif what in ("left", "right"):
            self._move_cursor(-1 if what == "left" else 1)
        else:
            if what == "x":
                self.cursor = None  # an x on the old axis means nothing on the new one
            super().control(what)

    def watch_show_train(self) -> None:
        self.redraw()
        self.post_message(self.CursorMoved())

    def watch_cursor(self) -> None:
        self.redraw()
        self.post_message(self.CursorMoved())

    def _move_cursor(self, direction: int) -> None:
        if self._span is None:
            return
        lo, hi = self._span
        if self.cursor is None:
            self.cursor = hi
            return
        step = (hi - lo) / CURSOR_STEPS or 1.0
        self.cursor = min(hi, max(lo, self.cursor + direction * step))

    def series(self) -> list[tuple[RunView | None, Series, Series | None]]:
        """(run, its val curve, its train curve or None); by group: a group's mean."""
        if self.groups is not None:
            return [(None, mean, train) for mean, train, _ in self.group_series()]
        out: list[tuple[RunView | None, Series, Series | None]] = []
        for run, color in self.runs:
            val = Series(run.label, color, *run_curve(run, "val", self.x_axis))
            train = None
            if self.show_train:
                curve = run_curve(run, "train", self.x_axis)
                train = Series(run.label, mix(color, WHITE, 0.5), *curve)
            out.append((run, val, train))
        return out

    def group_series(self) -> list[tuple[Series, Series | None, list[Series]]]:
        """Each group's mean val curve, its mean train curve (on `t`), and the band's
        edges: the min and max of its runs at each x, dimmer."""
        out = []
        for name, views, color in self.groups or []:
            label = f"{name} ×{len(views)}"
            xs, mean, lo, hi = band([run_curve(v, "val", self.x_axis) for v in views])
            edges = [Series(label, mix(color, DIM, 0.55), xs, ys) for ys in (lo, hi)]
            train = None
            if self.show_train:
                txs, tmean, _, _ = band([run_curve(v, "train", self.x_axis) for v in views])
                train = Series(label, mix(color, WHITE, 0.5), txs, tmean)
            out.append((Series(label, color, xs, mean), train, edges if len(views) > 1 else []))
        return out

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        keys = ", . cursor · t train · x l ( )"
        self.border_title = ("val & train" if self.show_train else "val loss") + " "
        self.border_title += self.controls_text()
        self.border_subtitle = keys
        drawn = self.series()
        curves = [s for _, val, train in drawn for s in (train, val) if s is not None]
        if self.groups is not None:  # the bands first: the means are drawn over them
            curves = [e for _, _, edges in self.group_series() for e in edges] + curves
        xs = [x for s in curves for x in s.xs]
        self._span = (min(xs), max(xs)) if xs else None
        if self.cursor is not None and self._span is not None:
            self.cursor = min(self._span[1], max(self._span[0], self.cursor))
        plot = self.query_one("#compare-plot", CurvePlot)
        markers = [x for run, _ in self.runs for x in steer_marks(run, self.x_axis)]
        plot.draw(curves, self.x_axis, self.log_y, self.smoothing, self.cursor, markers=markers)
        legend = Text("  ").join(swatch(visible_line(val.label), val.color) for _, val, _ in drawn)
        if self.show_train:
            legend.append("   (lighter: train)", style="dim")
        if self.groups is not None:
            legend.append("   seed groups: mean, dim min–max band", style="dim")
        self.query_one("#compare-legend", Static).update(legend)
        self.query_one("#compare-readout", Static).update(self.readout())

    def readout(self) -> Text:
        if self.cursor is None:
            return Text(", and . move a cursor that reads every run at one x", style="dim")
        where = "val/train" if self.show_train else "val"
        whose = "each run's" if self.groups is None else "each group's mean"
        return Text(f"cursor at {self.cursor_label()}: {whose} {where} in the table's ▸ column")

    def cursor_label(self) -> str:
        return x_label(self.cursor, self.x_axis) if self.cursor is not None else ""

    def readings(self) -> dict[str, str]:
        """Each drawn run's value at the cursor (val, or val/train), by run label; "–"
        where its curve does not reach the cursor. Empty without a cursor."""
        if self.cursor is None:
            return {}
        x, out = self.cursor, {}
        for _, val, train in self.series():
            values = [val] + ([train] if train is not None else [])
            read = [value_at(s.xs, ema(s.ys, self.smoothing), x) for s in values]
            out[val.label] = "/".join(f"{v:.4f}" if v is not None else "–" for v in read)
        return out


@dataclass
class Scoring(Message):
    """How the full-split scoring goes: what it scores now ("" when done), or a failure."""

    text: str
    failed: str = ""
    uncached: tuple[Path, FullEval] | None = None  # a score eval.json could not keep


class CompareScreen(Screen[None]):
    """The runs side by side: chart above, table below (stacked, so 80 columns suffice)."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("t", "chart('train')", "Train loss"),
        *CHART_BINDINGS,
        Binding("comma,less_than_sign", "chart('left')", "Cursor left", show=False),
        Binding("full_stop,greater_than_sign", "chart('right')", "Cursor right", show=False),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("b", "baseline", "Baseline"),
        Binding("slash", "filter", "Filter"),
        Binding("e", "full_eval", "Full eval"),
        Binding("ctrl+s", "screenshot", "SVG"),
        # after ^s: at 80 columns the footer has room for one of them, and ^s came first
        Binding("w", "write_report", "Report"),
        Binding("g", "groups", "Groups"),
    ]

    sort_key: reactive[str | None] = reactive(None)
    reverse: reactive[bool] = reactive(False)
    baseline: reactive[str | None] = reactive(None)
    filter_text: reactive[str] = reactive("")
    # One row and one curve per seed group (runs that differ only in the seed).
    by_group: reactive[bool] = reactive(False)

    def __init__(
        self,
        run_dirs: list[Path],
        full_eval: bool = False,
        baseline: str | None = None,
        by_group: bool = False,
    ) -> None:
        super().__init__()
        self.set_reactive(CompareScreen.by_group, by_group)
        self.run_dirs = run_dirs
        self.runs: list[RunView] = []
        self.run_colors: dict[str, RGB] = {}
        self.rows: list[Row] = []
        self._auto_eval = full_eval
        self._initial_baseline = baseline
        self._evaluating = ""
        self._readings: tuple[str, dict[str, str]] = ("", {})  # what the table shows
        self._warned: str | None = None  # the corpora warning last shown
        self.groups: list[Group] | None = None  # by_group's groups, as the table shows them

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-status", markup=False)
        with Vertical(id="compare-body"):
            yield CompareChart(id="compare-chart")
            yield CompareTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield FilterInput(
            "#compare-table", placeholder="filter: words of a run's name, model or status",
            id="filter",
        )  # fmt: skip
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "charlm-tui"
        self.sub_title = "compare"
        self.query_one("#compare-status", Static).tooltip = VAL_NOTE
        self.runs = load_runs(self.run_dirs)
        # One colour per run for as long as the screen lives: sorting and filtering
        # never repaint a run in another run's colour.
        self.run_colors = {r.label: color_of(i) for i, r in enumerate(self.runs)}
        self.baseline = self._initial_baseline
        self.rebuild()
        self.set_interval(POLL_S, self.poll)
        if self._auto_eval:
            self.action_full_eval()

    # -- data ------------------------------------------------------------------------------

    def poll(self) -> None:
        changed = [r.update() for r in self.runs]
        if any(changed):
            self.rebuild()

    def rebuild(self) -> None:
        rows = with_baseline([row_of(r) for r in self.runs], self.baseline)
        rows = [r for r in rows if matches(r, self.filter_text)]
        if self.sort_key is not None:
            rows = sort_rows(rows, self.sort_key, self.reverse)
        self.rows = rows
        chart = self.query_one(CompareChart)
        shown = {r.name for r in rows}
        views = {r.label: r for r in self.runs}
        self.groups = group_rows(rows) if self.by_group else None
        chart.show(
            [(r, self.run_colors[r.label]) for r in self.runs if r.label in shown],
            None if self.groups is None else [
                (g.name, [views[r.name] for r in g.rows], self.run_colors[g.rows[0].name])
                for g in self.groups
            ],
        )  # fmt: skip
        self._fill_table()  # after the chart: the cursor column reads its curves
        warning = corpus_warning([row_of(r) for r in self.runs])
        if warning is not None and warning != self._warned:
            self.notify(visible_line(warning), severity="warning", timeout=15)
        self._warned = warning
        self._status()

    @on(CompareChart.CursorMoved)
    def cursor_moved(self) -> None:
        chart = self.query_one(CompareChart)
        if (chart.cursor_label(), chart.readings()) != self._readings:
            self._fill_table()

    def _status(self) -> None:
        line = status_line(
            self.rows, len(self.runs), self.filter_text, (self.sort_key, self.reverse),
            self.baseline, self._evaluating, self._warned is not None,
        )  # fmt: skip
        if self.groups is not None:
            n = len(self.groups)
            line += f" · {n} seed group{'s' if n != 1 else ''} (g: runs)"
        self.query_one("#compare-status", Static).update(Text(line))

    def _fill_table(self) -> None:
        chart = self.query_one(CompareChart)
        readings = chart.readings()
        self._readings = (chart.cursor_label(), readings)
        if self.groups is not None:
            self.query_one(CompareTable).show_groups(
                self.groups, differences(self.groups, self.baseline), self.run_colors,
                (chart.cursor_label(), readings),
            )  # fmt: skip
            return
        self.query_one(CompareTable).show(
            self.rows, self.run_colors, self.baseline, (self.sort_key, self.reverse),
            (chart.cursor_label(), readings),
        )  # fmt: skip

    @property
    def selected(self) -> Row | None:
        return self.query_one(CompareTable).selected

    # -- keys ------------------------------------------------------------------------------

    def action_chart(self, what: str) -> None:
        self.query_one(CompareChart).control(what)

    def action_sort(self) -> None:
        keys = [c.key for c in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key else None)

    def action_reverse(self) -> None:
        self.sort_by(self.sort_key or COLUMNS[0].key, flip=True)

    @on(DataTable.HeaderSelected)
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value).removeprefix("delta:")
        if key != "cursor":  # values at one x: not a column of the rows to sort by
            self.sort_by(key, flip=key == self.sort_key)

    def sort_by(self, key: str | None, flip: bool = False) -> None:
        """Sort by a column (None: the first), ascending; flip: the other way round."""
        self.sort_key = key or COLUMNS[0].key
        self.reverse = not self.reverse if flip else False
        self.rebuild()

    def action_groups(self) -> None:
        self.by_group = not self.by_group

    def watch_by_group(self) -> None:
        if self.is_mounted and self.runs:
            self.rebuild()

    def action_baseline(self) -> None:
        row = self.selected if self.groups is None else self.selected_group_run
        if row is None:
            return
        self.baseline = None if self.baseline == row.name else row.name
        self.rebuild()

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.rebuild()

    def action_back(self) -> None:
        if (field := self.query_one(FilterInput)).has_focus:
            field.close()
        else:
            self.app.pop_screen()

    @property
    def selected_group_run(self) -> Row | None:
        """The first run of the group under the table's cursor (by group)."""
        at = self.query_one(CompareTable).cursor_row
        groups = self.groups or []
        return groups[at].rows[0] if at is not None and 0 <= at < len(groups) else None

    def action_open(self) -> None:
        row = self.selected if self.groups is None else self.selected_group_run
        if row is not None:
            self.post_message(OpenRun(Path(row.path)))

    @on(DataTable.RowSelected)
    def row_chosen(self) -> None:
        self.action_open()

    def action_screenshot(self) -> None:
        name = f"charlm-compare-{time.strftime('%Y%m%d-%H%M%S')}.svg"
        try:
            self.notify(f"saved {self.app.save_screenshot(name, str(Path.cwd()))}", timeout=8)
        except OSError as e:
            self.notify(f"cannot save the screenshot: {e.strerror or e}", severity="error")

    # -- the written report ------------------------------------------------------------------

    def action_write_report(self) -> None:
        """The runs shown (filtered, in the table's order), as `charlm-tui report` writes
        them, into the current folder, charted as the chart is now."""
        if not self.rows:
            self.notify("no runs shown: nothing to report", timeout=4)
            return
        chart = self.query_one(CompareChart)
        options = ChartOptions(x=chart.x_axis, log_y=chart.log_y, smooth=chart.smoothing)
        kept = {r.path: r.full for r in self.runs if r.full is not None}
        self.notify("writing the report…", timeout=3)
        self.report_worker([Path(r.path) for r in self.rows], default_name(), options, kept)

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def report_worker(
        self, paths: list[Path], target: Path, options: ChartOptions, kept: dict[Path, FullEval]
    ) -> None:
        try:
            views = report_views(paths)
            for view in views:  # scores the screen holds that eval.json could not keep
                view.full = view.full or kept.get(view.path)
            done = write_report(views, target, options)
        except Exception as e:  # one line for a bad input, and for anything else too
            text = str(e) if isinstance(e, CharLMError) else f"{type(e).__name__}: {e}"
            self.app.call_from_thread(
                self.notify, f"no report: {visible_line(text)}", severity="error", timeout=10
            )
            return
        where = f"wrote {done.path}" + (f" and {done.images[0].parent}/" if done.images else "")
        notes = "".join(f"\n{n}" for n in done.notes)
        self.app.call_from_thread(self.notify, visible_line(where) + notes, timeout=10)

    # -- full-split evaluation ---------------------------------------------------------------

    def action_full_eval(self) -> None:
        todo = [
            r.path
            for r in self.runs
            if r.full is None and not r.live and scored_checkpoint(r.path) is not None
        ]
        if not todo:
            self.notify("every finished run is already scored on its full val split", timeout=4)
            return
        self.evaluate(todo)

    @work(thread=True, exclusive=True, group="full-eval", exit_on_error=False)
    def evaluate(self, todo: list[Path]) -> None:
        score_each(todo, self.post_message)

    @on(Scoring)
    def scoring(self, message: Scoring) -> None:
        for view in self.runs if message.uncached else []:
            if view.path == message.uncached[0]:
                view.full, view.version = message.uncached[1], view.version + 1
        if message.failed:
            self.notify(message.failed, severity="error", timeout=10)
            return
        self._evaluating = message.text
        self._status()
        if not message.text:  # done: the scores are in eval.json
            self.poll()


def score_each(todo: list[Path], post: Callable[[Message], object]) -> None:
    """best.pt of each run on every position of its val split (cached in eval.json),
    posting how it goes as Scoring messages (from a worker thread)."""
    for i, path in enumerate(todo, 1):
        post(Scoring(f"scoring {i}/{len(todo)}: {path.name}…"))
        try:
            why: list[str] = []
            result = full_eval(path, uncached=why.append)
            if why:  # a read-only run: shown, not cached
                failed = f"{why[0]}: shown, not cached"
                post(Scoring("", failed, uncached=(path, result)))
        except Exception as e:  # one line for a bad input, and for anything else too
            text = str(e) if isinstance(e, CharLMError) else f"{type(e).__name__}: {e}"
            post(Scoring("", failed=text))
    post(Scoring(""))


def status_line(
    rows: list[Row],
    n_runs: int,
    filter_text: str,
    sort: tuple[str | None, bool],
    baseline: str | None,
    evaluating: str,
    corpora_differ: bool = False,
) -> str:
    """`3 runs · val: 1 full split, ~ estimates · sort val loss ▲ · baseline a · …`."""
    full = sum(r.val_source == "full" for r in rows)
    parts = [f"{len(rows)} of {n_runs} runs" if filter_text else f"{len(rows)} runs"]
    parts.append("val: full split" if full == len(rows) else f"val: {full} full split, ~ estimates")
    sort_key, reverse = sort
    if sort_key is not None:
        title = next(c.title for c in COLUMNS if c.key == sort_key)
        parts.append(f"sort {title} {'▼' if reverse else '▲'}")
    if baseline is not None:
        parts.append(f"baseline {visible_line(baseline)}")
    if filter_text:
        parts.append(f"filter “{visible_line(filter_text)}”")
    if corpora_differ:
        parts.append("⚠ different corpora: losses do not compare")
    if evaluating:
        parts.append(evaluating)
    return " · ".join(parts)
