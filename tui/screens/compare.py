"""Compare runs: their loss curves on one chart and their numbers in one table.

Opened from home (`space` marks runs, `c` compares them), by `charlm-tui compare RUN...`
and at the end of a ladder. Runs still training grow on the chart and in the table.
The rows are tui/tables.py's and the curves tui/curves.py's, both from the runs' views.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.listing import load_runs
from charlm_tui.core.runs.scores import full_eval, scored_checkpoint
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.text.display import visible_line
from charlm_tui.tui.curves import ema, run_curve, steer_marks, value_at
from charlm_tui.tui.messages import OpenRun
from charlm_tui.tui.tables import (
    COLUMNS,
    DELTAS,
    VAL_NOTE,
    Row,
    cell,
    delta_cell,
    matches,
    row_of,
    sort_rows,
    with_baseline,
)
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
        self._span: tuple[float, float] | None = None

    def compose(self) -> ComposeResult:
        yield CurvePlot(id="compare-plot", empty="no evaluations yet")
        yield Static(id="compare-legend")
        yield Static(id="compare-readout")

    def show(self, runs: list[tuple[RunView, RGB]]) -> None:
        self.runs = runs
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

    def series(self) -> list[tuple[RunView, Series, Series | None]]:
        out = []
        for run, color in self.runs:
            val = Series(run.label, color, *run_curve(run, "val", self.x_axis))
            train = None
            if self.show_train:
                curve = run_curve(run, "train", self.x_axis)
                train = Series(run.label, mix(color, WHITE, 0.5), *curve)
            out.append((run, val, train))
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
        self.query_one("#compare-legend", Static).update(legend)
        self.query_one("#compare-readout", Static).update(self.readout())

    def readout(self) -> Text:
        if self.cursor is None:
            return Text(", and . move a cursor that reads every run at one x", style="dim")
        where = "val/train" if self.show_train else "val"
        return Text(f"cursor at {self.cursor_label()}: each run's {where} in the table's ▸ column")

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
    ]

    sort_key: reactive[str | None] = reactive(None)
    reverse: reactive[bool] = reactive(False)
    baseline: reactive[str | None] = reactive(None)
    filter_text: reactive[str] = reactive("")

    def __init__(
        self, run_dirs: list[Path], full_eval: bool = False, baseline: str | None = None
    ) -> None:
        super().__init__()
        self.run_dirs = run_dirs
        self.runs: list[RunView] = []
        self.run_colors: dict[str, RGB] = {}
        self.rows: list[Row] = []
        self._auto_eval = full_eval
        self._initial_baseline = baseline
        self._evaluating = ""
        self._readings: tuple[str, dict[str, str]] = ("", {})  # what the table shows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-status", markup=False)
        with Vertical(id="compare-body"):
            yield CompareChart(id="compare-chart")
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield Input(placeholder="filter: words of a run's name, model or status", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "charlm-tui"
        self.sub_title = "compare"
        self.query_one("#filter", Input).display = False
        self.query_one("#compare-status", Static).tooltip = VAL_NOTE
        self.query_one(DataTable).fixed_columns = 1
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

    def visible(self) -> list[RunView]:
        shown = {r.name for r in self.rows}
        return [r for r in self.runs if r.label in shown]

    def rebuild(self) -> None:
        rows = with_baseline([row_of(r) for r in self.runs], self.baseline)
        rows = [r for r in rows if matches(r, self.filter_text)]
        if self.sort_key is not None:
            rows = sort_rows(rows, self.sort_key, self.reverse)
        self.rows = rows
        chart = self.query_one(CompareChart)
        chart.show([(r, self.run_colors[r.label]) for r in self.visible()])
        self._fill_table()  # after the chart: the cursor column reads its curves
        self._status()

    @on(CompareChart.CursorMoved)
    def cursor_moved(self) -> None:
        chart = self.query_one(CompareChart)
        if (chart.cursor_label(), chart.readings()) != self._readings:
            self._fill_table()

    def _status(self) -> None:
        full = sum(r.val_source == "full" for r in self.rows)
        parts = [
            f"{len(self.rows)} of {len(self.runs)} runs"
            if self.filter_text
            else f"{len(self.rows)} runs"
        ]
        parts.append(
            "val: full split" if full == len(self.rows) else f"val: {full} full split, ~ estimates"
        )
        if self.sort_key is not None:
            title = next(c.title for c in COLUMNS if c.key == self.sort_key)
            parts.append(f"sort {title} {'▼' if self.reverse else '▲'}")
        if self.baseline is not None:
            parts.append(f"baseline {visible_line(self.baseline)}")
        if self.filter_text:
            parts.append(f"filter “{visible_line(self.filter_text)}”")
        if self._evaluating:
            parts.append(self._evaluating)
        self.query_one("#compare-status", Static).update(Text(" · ".join(parts)))

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        selected = self.selected
        scroll_x = table.scroll_x
        table.clear(columns=True)
        columns = list(COLUMNS)
        chart = self.query_one(CompareChart)
        readings = chart.readings()
        self._readings = (chart.cursor_label(), readings)
        for c in columns:
            arrow = (" ▼" if self.reverse else " ▲") if c.key == self.sort_key else ""
            table.add_column(
                Text(c.title + arrow, justify="right" if c.numeric else "left"), key=c.key
            )
            if c.key == "val_top5" and self.baseline is not None:
                for d in DELTAS:
                    title = "Δ val" if d == "val_loss" else "Δ top@1"
                    table.add_column(Text(title, justify="right"), key=f"delta:{d}")
            if c.key == "name" and readings:  # beside the names: in view at any width
                title = f"▸ {chart.cursor_label()}"
                table.add_column(Text(title, justify="right"), key="cursor")
        for row in self.rows:
            cells: list[Text] = []
            for c in columns:
                if c.key == "name":
                    name = swatch(visible_line(row.name), self.run_colors.get(row.name, WHITE))
                    if row.name == self.baseline:
                        name.append(" ◆", style="bold")
                    cells.append(name)
                    if readings:
                        cells.append(Text(readings.get(row.name, "–"), justify="right"))
                else:
                    cells.append(Text(cell(row, c.key), justify="right" if c.numeric else "left"))
                if c.key == "val_top5" and self.baseline is not None:
                    for d in DELTAS:
                        base = row.name == self.baseline
                        cells.append(Text("base" if base else delta_cell(row, d), justify="right"))
            table.add_row(*cells, key=row.path)
        if selected is not None:
            for i, row in enumerate(self.rows):
                if row.path == selected.path:
                    table.move_cursor(row=i, animate=False)
        table.scroll_x = scroll_x

    @property
    def selected(self) -> Row | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    # -- keys ------------------------------------------------------------------------------

    def action_chart(self, what: str) -> None:
        self.query_one(CompareChart).control(what)

    def action_sort(self) -> None:
        keys = [c.key for c in COLUMNS]
        self.sort_key = (
            keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key else keys[0]
        )
        self.reverse = False
        self.rebuild()

    def action_reverse(self) -> None:
        if self.sort_key is None:
            self.sort_key = COLUMNS[0].key
        self.reverse = not self.reverse
        self.rebuild()

    @on(DataTable.HeaderSelected)
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == "cursor":  # values at one x: not a column of the rows to sort by
            return
        if key.startswith("delta:"):
            key = key.removeprefix("delta:")
        if key == self.sort_key:
            self.reverse = not self.reverse
        else:
            self.sort_key, self.reverse = key, False
        self.rebuild()

    def action_baseline(self) -> None:
        row = self.selected
        if row is None:
            return
        self.baseline = None if self.baseline == row.name else row.name
        self.rebuild()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.rebuild()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self._leave_filter()

    def _leave_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = bool(field.value)
        self.query_one(DataTable).focus()

    def action_back(self) -> None:
        if self.query_one("#filter", Input).has_focus:
            self._leave_filter()
            return
        self.app.pop_screen()

    def action_open(self) -> None:
        if (row := self.selected) is not None:
            self.post_message(OpenRun(Path(row.path)))

    @on(DataTable.RowSelected)
    def row_chosen(self) -> None:
        self.action_open()

    def action_screenshot(self) -> None:
        name = f"charlm-compare-{time.strftime('%Y%m%d-%H%M%S')}.svg"
        try:
            path = self.app.save_screenshot(filename=name, path=str(Path.cwd()))
        except OSError as e:
            self.notify(f"cannot save the screenshot: {e.strerror or e}", severity="error")
            return
        self.notify(f"saved {path}", title="screenshot", timeout=8)

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
        """best.pt of each run on every position of its val split (cached in eval.json)."""
        for i, path in enumerate(todo, 1):
            self.app.call_from_thread(self._eval_status, f"scoring {i}/{len(todo)}: {path.name}…")
            try:
                full_eval(path)
            except Exception as e:  # one line for a bad input, and for anything else too
                text = str(e) if isinstance(e, CharLMError) else f"{type(e).__name__}: {e}"
                self.app.call_from_thread(self.notify, text, severity="error", timeout=10)
        self.app.call_from_thread(self._eval_status, "")
        self.app.call_from_thread(self.poll)

    def _eval_status(self, text: str) -> None:
        self._evaluating = text
        self._status()
