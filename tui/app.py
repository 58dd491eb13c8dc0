"""The Textual app: home, and every screen over it.

Home is always at the bottom of the screen stack: `charlm-tui train`, `watch`, `sample`,
`inspect` and `compare` push their screen on top of it, so Esc goes back the same way
everywhere. Screens ask for navigation with messages (tui/messages.py); workers report
with messages too. What a screen needs loaded (a checkpoint, a scored text) is loaded
in a worker (tui/loading.py); trainings run in a child process (tui/training.py), and
the dashboard follows the run directory it writes and steers it through control.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from charlm_tui.core import paths
from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.experiments.ladder import Ladder, LadderSession
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.training.plan import RunPlan
from charlm_tui.tui.formatting import visible
from charlm_tui.tui.loading import for_generate, for_inspect
from charlm_tui.tui.messages import (
    GenerateReady,
    InspectReady,
    LoadFailed,
    OpenCompare,
    OpenGenerate,
    OpenInspect,
    OpenRun,
    RunChecked,
)
from charlm_tui.tui.process import TrainingProcess
from charlm_tui.tui.screens.compare import CompareScreen
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.screens.inspect import InspectScreen
from charlm_tui.tui.training import TrainingApp


class CharLMApp(TrainingApp):
    CSS_PATH = "charlm.tcss"
    TITLE = "charlm-tui"
    # One action for every quit key, so a footer shows one of them: `q` where a screen
    # binds it first (home, dashboard), `ctrl+q` where a field takes the letter q
    # (the generate pane's prompt: its own ctrl+q binding yields to this priority one).
    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
        Binding("ctrl+c", "app.quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        *,
        runs_dir: Path | None = None,
        train: RunPlan | None = None,
        watch: Path | None = None,
        generate: tuple[Path, GenerateOptions] | None = None,
        inspect: OpenInspect | None = None,
        compare: OpenCompare | None = None,
        ladder: Ladder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """At most one of train, watch, generate, inspect, compare and ladder: what opens
        over home."""
        super().__init__()
        self.runs_dir = runs_dir or paths.runs_dir()
        self.process: TrainingProcess | None = None
        self._exit_when_stopped = False
        self.ladder = LadderSession(ladder) if ladder is not None else None
        self._opening: Message | None = (
            RunChecked(train) if train is not None
            else OpenRun(watch) if watch is not None
            else OpenGenerate(*generate) if generate is not None
            else inspect or compare
        )  # fmt: skip
        self.clock = clock
        self.prompt_history: list[str] = []  # the generate panes' prompts, newest last

    def on_mount(self) -> None:
        self.push_screen(HomeScreen(self.runs_dir, clock=self.clock))
        if self._opening is not None:
            self.post_message(self._opening)
        elif self.ladder is not None:
            self.next_rung()

    # -- navigation ------------------------------------------------------------------------

    @on(OpenRun)
    def open_run(self, message: OpenRun) -> None:
        process = self.process
        mine = process if process is not None and process.run_dir == message.run_dir else None
        self.show_run(DashboardScreen(RunView(message.run_dir), mine, self.clock))

    @on(OpenCompare)
    def open_compare(self, message: OpenCompare) -> None:
        self.push_screen(
            CompareScreen(message.run_dirs, message.full_eval, message.baseline, message.by_group)
        )

    @on(OpenGenerate)
    def open_generate(self, message: OpenGenerate) -> None:
        self.load("generate", for_generate, message)

    @on(OpenInspect)
    def open_inspect(self, message: OpenInspect) -> None:
        self.notify(f"scoring {message.source.describe()} with {message.path.name}…", timeout=3)
        self.load("inspect", for_inspect, message)

    @on(LoadFailed)
    def load_failed(self, message: LoadFailed) -> None:
        self.notify(message.error, title=f"cannot {message.what}", severity="error", timeout=15)

    @on(GenerateReady)
    def generate_ready(self, message: GenerateReady) -> None:
        self.push_screen(GenerateScreen(message, self.prompt_history))

    @on(InspectReady)
    def inspect_ready(self, message: InspectReady) -> None:
        self.push_screen(InspectScreen(message.model, message.inspection, message.label))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the current screen is in the command palette too."""
        yield from super().get_system_commands(screen)
        yield from key_commands(screen, self.call_later)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification of the app, whoever asks (screens call this too): never
        markup, and never a raw control character, since messages name paths, corpora
        and lines of train.log. (Thread-safe, like Textual's.)"""
        super().notify(
            visible(message), title=visible(title), severity=severity, timeout=timeout,
            markup=False,
        )  # fmt: skip


def key_commands(screen: Screen, call_later: Callable[..., Any]) -> Iterable[SystemCommand]:
    """A palette command for every key the screen has enabled, once per description."""
    seen = set()
    for key, active in screen.active_bindings.items():
        b = active.binding
        if not active.enabled or not b.description or b.description in seen:
            continue
        seen.add(b.description)
        node = active.node
        yield SystemCommand(
            b.description,
            f"key: {key}",
            lambda node=node, action=b.action: call_later(node.run_action, action),
        )
