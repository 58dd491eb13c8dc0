"""The training dashboard: loss curves, metrics, samples and the model, live.

It follows a run directory through its run view (core/runs/view.py): a run this app
started in a child process, one a headless process writes (`watch`), or one finished
long ago. While a process
trains there (it holds the run's lock) the keys steer it through control.json.

On a small terminal the panes make room instead of being cut: below SHORT_ROWS rows
the header and the sparkline go, below CRAMPED_ROWS the metrics keep their first rows,
below NARROW_COLUMNS the chart goes (the metrics keep the width); the samples, the
status line and the footer's way out stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Header, Static, TabbedContent, TabPane

from charlm_tui.core.runs.rundir import CHECKPOINT_KINDS, checkpoint_name
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import cut_end, shorten_middle, status_word, visible
from charlm_tui.tui.messages import OpenGenerate
from charlm_tui.tui.process import TrainingProcess
from charlm_tui.tui.screens.steer import SteeringKeys
from charlm_tui.tui.tables import model_label
from charlm_tui.tui.widgets.bars import KeysFooter
from charlm_tui.tui.widgets.internals import InternalsPane
from charlm_tui.tui.widgets.loss_chart import CHART_BINDINGS, LossChart
from charlm_tui.tui.widgets.metrics import MetricsPanel
from charlm_tui.tui.widgets.run_tabs import CheckpointList, ModelSummary, SamplesLog
from charlm_tui.tui.widgets.system_strip import SystemStrip

# One redraw a second, metrics, chart and system strip in one compositor pass: the UI
# shares the cores with the training child, whose two OpenMP threads both stall while
# the UI holds one. Metrics at 2 Hz and the chart at 1 Hz on timers of their own cost
# 7.4% of a core and read 0.86x headless; one pass a second, 5.6% and 0.94-0.96x
# (bench/tui_overhead.py, BENCHMARKS.md).
REFRESH_S = 1.0
TABS = ("samples-tab", "model-tab", "checkpoints-tab")
SHORT_ROWS = 30  # below: no header, no sparkline, fewer timing lines
CRAMPED_ROWS = 22  # below: the metrics keep loss and bpc, elapsed and ETA
NARROW_COLUMNS = 72  # below: a chart would be a few columns wide; the metrics take the row


class DashboardScreen(SteeringKeys):
    # The way out first: a narrow footer cuts keys from the right.
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
        Binding("p", "pause", "Pause"),
        Binding("p", "unpause", "Resume"),  # the one check_action allows shows
        Binding("s", "stop", "Stop"),
        # Steering in the footer, early enough to stay on an 80-column one (a newcomer
        # found it only in the palette); the palette lists the rest (e, m, ], [, -).
        Binding("plus,equals_sign", "lr(1.25)", "LR ×1.25", key_display="+"),
        Binding("c", "checkpoint", "Save"),
        Binding("t", "sample", "Sample"),
        Binding("g", "generate", "Generate"),
        Binding("n", "internals", "Internals"),
        Binding("1", "tab(0)", "Samples tab", show=False),
        Binding("2", "tab(1)", "Model tab", show=False),
        Binding("3", "tab(2)", "Checkpoints tab", show=False),
        # Steering a live run's hyperparameters: in force from the next step, recorded
        # as steer records, marked on the chart.
        Binding("minus", "lr(0.8)", "LR ÷1.25", show=False),
        Binding("e", "steer_evals", "Eval interval…", show=False),
        Binding("m", "steer_samples", "Samples…", show=False),
        Binding("right_square_bracket", "extend(10)", "Extend the run 10%", show=False),
        Binding("left_square_bracket", "extend(-10)", "Shorten the run 10%", show=False),
        *CHART_BINDINGS,  # x axis, log-y, smoothing: on the screen, so no focus is needed
        Binding("v", "chart('second')", "Lower chart: lr/grad/tok/s", show=False),
    ]

    live: reactive[bool] = reactive(False, bindings=True)  # a process trains here now
    paused: reactive[bool] = reactive(False, bindings=True)  # and is paused
    status: reactive[str] = reactive("")
    internals: reactive[bool] = reactive(False)  # the internals pane in place of the rest

    def __init__(
        self,
        view: RunView,
        process: TrainingProcess | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.view = view
        self.clock = clock  # "saved 3m ago" in the checkpoints tab
        self.run_dir = view.path
        self.process = process  # set when this app started the training
        self._drawn = self._drawn_chart = -1
        self._generate_after: float | None = None  # waiting for a fresh last.pt since then
        self._drawn_paused = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status", markup=False)
        yield SystemStrip(self.run_dir, id="system")
        with Horizontal(id="top"):
            yield LossChart(id="chart")
            yield MetricsPanel(id="metrics")
        yield InternalsPane(id="internals")
        with TabbedContent(id="bottom"):
            with TabPane("1 Samples", id="samples-tab"):
                yield SamplesLog(id="samples")
            with TabPane("2 Model", id="model-tab"):
                yield ModelSummary(id="model")
            with TabPane("3 Checkpoints", id="checkpoints-tab"):
                yield CheckpointList(self.clock, id="checkpoints")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "charlm-tui"
        self.sub_title = visible(str(self.run_dir))  # a folder name is untrusted
        self.query_one(InternalsPane).display = False
        self.fit(self.app.size.width, self.app.size.height)
        self.refresh_view()
        self.refresh_system()
        self.call_after_refresh(self.refresh_chart)  # once sized, not a second later
        self.set_interval(REFRESH_S, self.tick)

    # -- drawing ---------------------------------------------------------------------------

    def tick(self) -> None:
        self.refresh_view()
        self.refresh_chart()
        self.refresh_system()
        if self.shown:  # the files' ages go on after the run's records stop
            self.query_one(CheckpointList).show(self.view)

    def refresh_view(self) -> None:
        view = self.view
        view.update()
        self.live = view.live
        self.paused = is_paused = view.paused
        self.status = status_line(self.view, self.process, self.size.width)
        self._maybe_open_generate()
        if not self.shown:  # covered by a pane: draw when it closes
            return
        if view.version == self._drawn and is_paused == self._drawn_paused:
            return
        self._drawn, self._drawn_paused = view.version, is_paused
        self.query_one(MetricsPanel).show(view, is_paused)
        self.query_one(SamplesLog).show(view)
        self.query_one(ModelSummary).show(view)
        self.query_one(CheckpointList).show(view)
        if self.internals:
            self.query_one(InternalsPane).show(view)

    @property
    def shown(self) -> bool:
        """On top, or under a dialog that lets it show through."""
        stack = self.app.screen_stack
        return stack[-1] is self or (isinstance(stack[-1], ModalScreen) and stack[-2] is self)

    def on_screen_resume(self) -> None:
        self.refresh_view()
        self.refresh_chart()

    def refresh_system(self) -> None:
        if not self.shown:
            return
        self.query_one(SystemStrip).show(self.view, self.live)

    def watch_status(self, status: str) -> None:
        head, sep, rest = status.partition(" · ")
        line = Text.assemble((head, "bold"), sep, rest, no_wrap=True, overflow="ellipsis")
        self.query_one("#status", Static).update(line, layout=False)

    def refresh_chart(self) -> None:
        if not self.shown:
            return
        view = self.view
        if view.version != self._drawn_chart:
            self._drawn_chart = view.version
            self.query_one(LossChart).show(view)

    def on_resize(self, event: Resize) -> None:
        self._drawn_chart = -1
        self.fit(event.size.width, event.size.height)

    def fit(self, width: int, height: int) -> None:
        """Classes for the stylesheet's small-terminal rules (tui/charlm.tcss)."""
        self.set_class(height < SHORT_ROWS, "-short")
        self.set_class(height < CRAMPED_ROWS, "-cramped")
        self.set_class(width < NARROW_COLUMNS, "-narrow")

    # -- actions ---------------------------------------------------------------------------

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]

    def action_internals(self) -> None:
        self.internals = not self.internals

    def watch_internals(self, on: bool) -> None:
        """The internals pane takes the chart's, the metrics' and the tabs' room: at 80x24
        its chart and a table of a GPT's layers fit only so."""
        for part in ("#top", "#bottom"):
            self.query_one(part).display = not on
        pane = self.query_one(InternalsPane)
        pane.display = on
        if on:
            pane.show(self.view)
        else:
            self._drawn_chart = -1  # the loss chart missed the records read meanwhile
            self.refresh_chart()

    def action_generate(self) -> None:
        """The generate pane on the newest weights: saved first while training."""
        if self.live:
            if self.asked("save"):
                self._generate_after = time.time()
                self.notify("saving the current weights for the generate pane…", timeout=2)
            return
        for kind in reversed(CHECKPOINT_KINDS):  # last.pt first: the newest weights
            path = self.run_dir / checkpoint_name(kind)
            if path.is_file():
                self.post_message(OpenGenerate(path))
                return
        self.notify(f"no checkpoint in {self.run_dir} yet", severity="warning")

    def action_chart(self, what: str) -> None:
        self.query_one(LossChart).control(what)

    def on_data_table_row_selected(self, event: CheckpointList.RowSelected) -> None:
        """Enter on a checkpoint opens it in the generate pane."""
        name = self.query_one(CheckpointList).selected
        if name is not None:
            self.post_message(OpenGenerate(self.run_dir / name))

    def _maybe_open_generate(self) -> None:
        if self._generate_after is None:
            return
        saved = self.view.checkpoints.get("last")
        if (saved is not None and (saved.time or 0) >= self._generate_after - 1.0) or not self.live:
            self._generate_after = None
            self.post_message(OpenGenerate(self.run_dir / checkpoint_name("last")))


def status_line(view: RunView, process: TrainingProcess | None, width: int) -> str:
    """`word: detail · model · corpus · message`: the word is one of STATUS_WORDS
    (tui/formatting.py), the same `runs` and home use. Escaped: the corpus name, the
    run's messages and train.log's lines come from files. Fitted to `width`: the
    message is cut at its end first, then the corpus path in its middle."""
    room = (width or 120) - 2  # - the padding
    msg = view.done.message if view.done else ""
    note = view.notes[-1].text if view.notes and not view.done else ""
    line = f"{visible(status_detail(view, process))} · {visible(model_label(view))} · corpus "
    corpus = visible(view.corpus)
    tail = f" · {visible(msg or note)}" if msg or note else ""
    corpus = shorten_middle(corpus, max(16, room - cell_len(line) - cell_len(tail)))
    left = room - cell_len(line) - cell_len(corpus)
    return cut_end(line + corpus + (cut_end(tail, left) if left >= 12 else ""), room)


def status_detail(view: RunView, process: TrainingProcess | None) -> str:
    """The run's status word (RunView.status), with what this app knows besides: its
    own training child starting or failing, a stop on its way."""
    word = view.status
    if word in ("running", "paused"):
        return "running: stopping, saving last.pt…" if view.requests()["stop"] else word
    if view.done is not None and word != "unreadable":
        return status_word(word)
    if process is not None and process.running:
        return "new: starting…"
    if process is not None and process.proc is not None and process.proc.returncode not in (0, 130):
        return f"failed: {process.error_line()}"
    if word == "unreadable":
        return f"unreadable: {view.error}"
    return "killed: its process is gone" if word == "killed" else "new: waiting for records"
