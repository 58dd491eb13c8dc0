"""The training dashboard: loss curves, metrics, samples and the model, live.

Shows a feed: a training thread of this app (`LiveFeed`, with keys to pause, stop,
save, sample) or the files of a run written elsewhere (`FileFeed`, `watch`). The
feed is drained on a timer, so the training thread never waits for the screen.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from tui.screens.home import HomeScreen
from tui.state import FileFeed, LiveFeed
from tui.widgets.loss_chart import LossChart
from tui.widgets.metrics import MetricsPanel
from tui.widgets.model_summary import ModelSummary
from tui.widgets.samples import SamplesLog

REFRESH_S = 0.25  # metrics and samples
CHART_REFRESH_S = 0.5  # the chart costs more to draw


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("p", "pause", "Pause/resume"),
        Binding("s", "stop", "Stop"),
        Binding("c", "checkpoint", "Save ckpt"),
        Binding("t", "sample", "Sample now"),
        Binding("g", "generate", "Generate"),
        Binding("escape", "back", "Runs"),
    ]

    def __init__(self, feed: LiveFeed | FileFeed, session=None) -> None:
        super().__init__()
        self.feed = feed
        self.session = session  # a TrainingSession when the training runs in this app
        self._drawn_chart = -1
        self._drawn = -1

    @property
    def live(self) -> bool:
        return self.session is not None and self.session.running

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        with Horizontal(id="top"):
            yield LossChart(id="chart")
            yield MetricsPanel(id="metrics")
        with TabbedContent(id="bottom"):
            with TabPane("Samples", id="samples-tab"):
                yield SamplesLog(id="samples")
            with TabPane("Model", id="model-tab"):
                yield ModelSummary(id="model")
        yield Footer()

    def on_mount(self) -> None:
        run = self.feed.state.run_dir
        self.title = "charlm-tui"
        self.sub_title = str(run) if run else "training"
        self.refresh_view()
        self.set_interval(REFRESH_S, self.refresh_view)
        self.set_interval(CHART_REFRESH_S, self.refresh_chart)

    # -- drawing ---------------------------------------------------------------------------

    def refresh_view(self) -> None:
        self.feed.update()
        state = self.feed.state
        self.query_one("#status", Static).update(self.status_line())
        if state.version == self._drawn:
            return
        self._drawn = state.version
        self.query_one(MetricsPanel).show(state)
        self.query_one(SamplesLog).show(state)
        self.query_one(ModelSummary).show(state)
        self.refresh_bindings()

    def refresh_chart(self) -> None:
        state = self.feed.state
        if state.version != self._drawn_chart:
            self._drawn_chart = state.version
            self.query_one(LossChart).show(state)

    def on_resize(self) -> None:
        self._drawn_chart = -1

    def status_line(self) -> str:
        state = self.feed.state
        if self.session is not None:
            status = self.session.status
        elif state.done:
            status = str(state.done.get("reason", "done"))
        elif state.start:
            status = "running elsewhere" if isinstance(self.feed, FileFeed) else "running"
        else:
            status = "waiting for records"
        m = state.model_config
        shape = (
            f"gpt {m.get('n_layer')}×{m.get('n_head')}×{m.get('n_embd')} "
            f"block {m.get('block_size')}"
            if m.get("model") == "gpt"
            else str(m.get("model", "?"))
        )
        corpus = state.train_config.get("data", "?")
        msg = (state.done or {}).get("message") or ""
        return f"[b]{status}[/b] · {shape} · corpus {corpus}" + (f" · {msg}" if msg else "")

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "stop", "checkpoint", "sample"):
            return self.live  # hidden when there is no training here to steer
        return True

    def action_pause(self) -> None:
        self.session.toggle_pause()
        self.notify("paused" if self.session.paused else "resumed", timeout=2)

    def action_stop(self) -> None:
        self.session.stop()
        self.notify("stopping: saving last.pt…", timeout=3)

    def action_checkpoint(self) -> None:
        self.session.control.save_now.set()
        self.notify("saving last.pt…", timeout=2)

    def action_sample(self) -> None:
        self.session.control.sample_now.set()
        self.notify("sampling…", timeout=2)

    def action_generate(self) -> None:
        """Open the generate pane on the newest weights: saved first when training here."""
        run_dir = self.feed.state.run_dir
        if self.live:
            self.session.open_generate_after_save(self.app)
            self.notify("saving the current weights for the generate pane…", timeout=2)
            return
        if run_dir is None:
            self.notify("this run has no directory to load weights from", severity="warning")
            return
        path = next((run_dir / n for n in ("last.pt", "best.pt") if (run_dir / n).is_file()), None)
        if path is None:
            self.notify(f"no checkpoint in {run_dir} yet", severity="warning")
            return
        self.app.open_generate(Path(path))

    def action_back(self) -> None:
        """Back to the runs; a training run goes on, and Enter on it comes back here."""
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.switch_screen(HomeScreen(self.app.runs_dir, clock=self.app.clock))
