"""The training dashboard: loss curves, metrics, samples and the model, live.

It follows a run directory (`FileFeed`): a run this app started in a child process,
one a headless process writes (`watch`), or one finished long ago. While a process
trains there (it holds the run's lock) the keys steer it through control.json.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from core.config import shape_label
from core.control import read_control, request, write_control
from core.rundir import CHECKPOINT_KINDS, RunLock, checkpoint_name
from tui.messages import OpenGenerate
from tui.process import TrainingProcess
from tui.state import FileFeed
from tui.widgets.checkpoints import CheckpointList
from tui.widgets.loss_chart import CHART_BINDINGS, LossChart
from tui.widgets.metrics import MetricsPanel
from tui.widgets.model_summary import ModelSummary
from tui.widgets.samples import SamplesLog

REFRESH_S = 0.5  # metrics and samples: twice a second reads as live
CHART_REFRESH_S = 1.0  # the chart costs more to draw
STEERING = ("pause", "stop", "checkpoint", "sample")


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("p", "pause", "Pause/resume"),
        Binding("s", "stop", "Stop"),
        Binding("c", "checkpoint", "Save ckpt"),
        Binding("t", "sample", "Sample now"),
        Binding("g", "generate", "Generate"),
        Binding("escape", "app.pop_screen", "Runs"),
        *CHART_BINDINGS,  # x axis, log-y, smoothing: on the screen, so no focus is needed
        Binding("m", "chart('second')", "Lower chart: lr/grad/tok/s", show=False),
    ]

    live: reactive[bool] = reactive(False, bindings=True)  # a process trains here now
    status: reactive[str] = reactive("")

    def __init__(self, feed: FileFeed, process: TrainingProcess | None = None) -> None:
        super().__init__()
        self.feed = feed
        self.run_dir = feed.run_dir
        self.process = process  # set when this app started the training
        self._drawn = self._drawn_chart = -1
        self._generate_after: float | None = None  # waiting for a fresh last.pt since then

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status", markup=False)
        with Horizontal(id="top"):
            yield LossChart(id="chart")
            yield MetricsPanel(id="metrics")
        with TabbedContent(id="bottom"):
            with TabPane("Samples", id="samples-tab"):
                yield SamplesLog(id="samples")
            with TabPane("Model", id="model-tab"):
                yield ModelSummary(id="model")
            with TabPane("Checkpoints", id="checkpoints-tab"):
                yield CheckpointList(id="checkpoints")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "charlm-tui"
        self.sub_title = str(self.run_dir)
        self.refresh_view()
        self.call_after_refresh(self.refresh_chart)  # once sized, not a second later
        self.set_interval(REFRESH_S, self.refresh_view)
        self.set_interval(CHART_REFRESH_S, self.refresh_chart)

    # -- drawing ---------------------------------------------------------------------------

    def refresh_view(self) -> None:
        self.feed.update()
        self.live = RunLock.held(self.run_dir)
        self.status = self.status_line()
        self._maybe_open_generate()
        state = self.feed.state
        if state.version == self._drawn:
            return
        self._drawn = state.version
        self.query_one(MetricsPanel).show(state)
        self.query_one(SamplesLog).show(state)
        self.query_one(ModelSummary).show(state)
        self.query_one(CheckpointList).show(state)

    def watch_status(self, status: str) -> None:
        head, sep, rest = status.partition(" · ")
        self.query_one("#status", Static).update(
            Text.assemble((head, "bold"), sep, rest), layout=False
        )

    def refresh_chart(self) -> None:
        state = self.feed.state
        if state.version != self._drawn_chart:
            self._drawn_chart = state.version
            self.query_one(LossChart).show(state)

    def on_resize(self) -> None:
        self._drawn_chart = -1

    def status_line(self) -> str:
        state = self.feed.state
        control = read_control(self.run_dir) if self.live else {}
        if self.live and control.get("stop"):
            status = "stopping…"
        elif self.live:
            status = "paused" if control.get("paused") else "training"
        elif state.done:
            status = state.done.reason
        elif self.process is not None and self.process.running:
            status = "starting…"
        elif self.process is not None and self.process.proc.returncode not in (0, 130):
            status = f"failed: {self.process.error_line()}"
        elif self.feed.error:
            status = f"unreadable: {self.feed.error}"
        elif state.start:
            status = "killed (its process is gone)"
        else:
            status = "waiting for records"
        corpus = state.train_config.get("data", "?")
        msg = state.done.message if state.done else ""
        return f"{status} · {shape_label(state.model_config)} · corpus {corpus}" + (
            f" · {msg}" if msg else ""
        )

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in STEERING:
            return self.live  # hidden when no process trains here
        return True

    def action_pause(self) -> None:
        paused = not read_control(self.run_dir)["paused"]
        write_control(self.run_dir, paused=paused)
        self.notify("paused" if paused else "resumed", timeout=2)
        self.status = self.status_line()

    def action_stop(self) -> None:
        write_control(self.run_dir, stop=True)
        self.notify("stopping: saving last.pt…", timeout=3)

    def action_checkpoint(self) -> None:
        request(self.run_dir, "save")
        self.notify("saving last.pt…", timeout=2)

    def action_sample(self) -> None:
        request(self.run_dir, "sample")
        self.notify("sampling…", timeout=2)

    def action_generate(self) -> None:
        """The generate pane on the newest weights: saved first while training."""
        if self.live:
            self._generate_after = time.time()
            request(self.run_dir, "save")
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
        saved = self.feed.state.checkpoints.get("last")
        if (saved is not None and (saved.time or 0) >= self._generate_after - 1.0) or not self.live:
            self._generate_after = None
            self.post_message(OpenGenerate(self.run_dir / checkpoint_name("last")))
