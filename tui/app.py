"""The Textual app: home, dashboard and generate screens, and the training it started.

Home is always at the bottom of the screen stack: `charlm-tui train`, `watch` and
`sample` push their screen on top of it, so Esc goes back the same way everywhere.
Screens ask for navigation with messages (tui/messages.py); workers report with
messages too. Training runs in a child process (tui/process.py); the dashboard follows
the run directory it writes and steers it through control.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

from charlm_tui.core import paths
from charlm_tui.core.decoding.inspect import inspect_text
from charlm_tui.core.decoding.options import GenerateOptions, Source
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.checkpoint import load_model
from charlm_tui.core.runs.control import write_control
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.training.ladder import Ladder
from charlm_tui.core.training.plan import RunPlan, check_corpus, plan_resume
from charlm_tui.tui.formatting import visible
from charlm_tui.tui.messages import (
    InspectFailed,
    InspectReady,
    OpenCompare,
    OpenGenerate,
    OpenInspect,
    OpenNewRunForm,
    OpenRun,
    ResumeRun,
    RunChecked,
    RunRefused,
    StartRun,
    TrainingEnded,
)
from charlm_tui.tui.process import TrainingProcess, train_argv
from charlm_tui.tui.screens.compare import CompareScreen
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.dialogs import ChoiceScreen
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.screens.inspect import InspectScreen
from charlm_tui.tui.screens.new_run import NewRunScreen


class CharLMApp(App[int]):
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
        super().__init__()
        self.runs_dir = runs_dir or paths.runs_dir()
        self.process: TrainingProcess | None = None
        self._exit_when_stopped = False
        self._train, self._watch, self._generate = train, watch, generate
        self._inspect = inspect
        self._compare = compare
        self.ladder, self._ladder_tried = ladder, []  # a ladder trains rung after rung
        self.clock = clock

    def on_mount(self) -> None:
        self.push_screen(HomeScreen(self.runs_dir, clock=self.clock))
        if self._train is not None:
            self.start_training(self._train)
        elif self._watch is not None:
            self.post_message(OpenRun(self._watch))
        elif self._generate is not None:
            self.post_message(OpenGenerate(*self._generate))
        elif self._inspect is not None:
            self.post_message(self._inspect)
        elif self._compare is not None:
            self.post_message(self._compare)
        elif self.ladder is not None:
            self.next_rung()

    # -- training --------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        return self.process is not None and self.process.running

    def start_training(self, plan: RunPlan) -> None:
        if self.training:
            self.notify("a run is already training from here: stop it first", severity="error")
            return
        self.process = TrainingProcess(plan.run_dir, train_argv(plan))
        self.process.start()
        self.follow_child()
        self.push_screen(DashboardScreen(RunView(plan.run_dir), self.process))

    @work(thread=True, group="training", exit_on_error=False)
    def follow_child(self) -> None:
        """The child's exit code; or None when the app quits while the run goes on
        (Textual cancels every worker on exit), so this process can exit now."""
        worker = get_current_worker()
        assert self.process is not None
        code = self.process.wait(lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.post_message(TrainingEnded(code))

    @on(StartRun)
    def check_then_train(self, message: StartRun) -> None:
        """Validate the run off the UI thread (the corpus may take a while), then start it."""
        if self.training:
            self.notify("a run is already training from here: stop it first", severity="error")
            return
        self.notify(f"checking {message.plan.run_dir.name}…", timeout=3)
        self.check_plan(lambda: message.plan)

    @on(ResumeRun)
    def resume_run(self, message: ResumeRun) -> None:
        if self.training:
            self.notify("a run is already training from here: stop it first", severity="error")
            return
        self.check_plan(lambda: plan_resume(message.run_dir))

    @work(thread=True, group="check", exit_on_error=False)
    def check_plan(self, make: Callable[[], RunPlan]) -> None:
        try:
            plan = make()
            check_corpus(plan)
        except CharLMError as e:
            self.post_message(RunRefused(str(e)))
        except Exception as e:  # a bug, or a disk that fails: said, not swallowed
            self.post_message(RunRefused(f"{type(e).__name__}: {e}"))
        else:
            self.post_message(RunChecked(plan))

    @on(RunChecked)
    def run_checked(self, message: RunChecked) -> None:
        self.start_training(message.plan)

    @on(RunRefused)
    def run_refused(self, message: RunRefused) -> None:
        self.notify(message.error, title="cannot start", severity="error", timeout=15)

    @on(TrainingEnded)
    def training_ended(self, message: TrainingEnded) -> None:
        if self._exit_when_stopped:
            self.exit(0)
            return
        if self.ladder is not None:
            self.rung_ended()
        if message.code not in (0, 130) and self.process is not None:
            self.notify(
                self.process.error_line() or f"training exited with code {message.code}",
                title="training failed",
                severity="error",
                timeout=30,
            )
        else:
            self.notify("training ended", timeout=4)

    @on(OpenNewRunForm)
    def new_run(self) -> None:
        def start(plan: RunPlan | None) -> None:
            if plan is not None:
                self.post_message(StartRun(plan))

        self.push_screen(NewRunScreen(self.runs_dir), start)

    # -- a ladder: each rung on its dashboard, then all of them compared ------------------------

    def next_rung(self) -> None:
        ladder = self.ladder
        assert ladder is not None
        try:
            ladder.claim()
            step = ladder.next(self._ladder_tried)
        except CharLMError as e:
            self.ladder = None
            self.notify(str(e), title="ladder", severity="error", timeout=15)
            return
        if step is None:
            self.ladder = None
            self.post_message(OpenCompare(ladder.run_dirs(), full_eval=True))
            return
        rung, plan = step
        self._ladder_tried.append(rung.name)
        screen = self.screen
        if isinstance(screen, DashboardScreen) and screen.run_dir.parent == ladder.root:
            self.pop_screen()  # the previous rung's
        self.notify(f"rung {ladder.position(rung)}: {rung.name} ({rung.about})", title="ladder")
        self.start_training(plan)

    def rung_ended(self) -> None:
        ladder = self.ladder
        assert ladder is not None
        rung = next(r for r in ladder.rungs if r.name == self._ladder_tried[-1])
        if ladder.carries_on(rung):
            self.next_rung()
        else:
            self.ladder = None
            self.notify(
                f"ladder stopped at {rung.name}: run the same command again to carry on",
                title="ladder",
                timeout=15,
            )

    # -- navigation ------------------------------------------------------------------------

    @on(OpenRun)
    def open_run(self, message: OpenRun) -> None:
        process = self.process
        mine = process if process is not None and process.run_dir == message.run_dir else None
        self.push_screen(DashboardScreen(RunView(message.run_dir), mine))

    @on(OpenCompare)
    def open_compare(self, message: OpenCompare) -> None:
        self.push_screen(CompareScreen(message.run_dirs, message.full_eval, message.baseline))

    @on(OpenGenerate)
    def open_generate(self, message: OpenGenerate) -> None:
        path = message.path
        try:
            model, vocab, ckpt = load_model(path)
            screen = GenerateScreen(
                model,
                vocab,
                checkpoint_label(path, len(vocab), ckpt),
                path.parent,
                message.options,
                checkpoint=path,
            )
        except CharLMError as e:
            self.notify(str(e), severity="error", timeout=10)
            return
        self.push_screen(screen)

    @on(OpenInspect)
    def open_inspect(self, message: OpenInspect) -> None:
        self.notify(f"scoring {message.source.describe()} with {message.path.name}…", timeout=3)
        self.score_text(message)

    @work(thread=True, group="inspect", exclusive=True, exit_on_error=False)
    def score_text(self, message: OpenInspect) -> None:
        """Load the checkpoint, read the text and score it, off the UI thread (a corpus
        split may take a moment to read)."""
        from charlm_tui.core.config import from_dict

        try:
            model, vocab, ckpt = load_model(message.path)
            mcfg, tcfg = from_dict(ckpt["config"], str(message.path))
            source: Source = message.source
            text = message.text if message.text is not None else source.read(vocab, tcfg)
            inspection = inspect_text(model, vocab, text, mcfg.block_size, what=source.describe())
        except CharLMError as e:
            self.post_message(InspectFailed(str(e)))
            return
        except Exception as e:  # a bug, or a disk that fails: said, not swallowed
            self.post_message(InspectFailed(f"{type(e).__name__}: {e}"))
            return
        label = f"{source.describe()} · {checkpoint_label(message.path, len(vocab), ckpt)}"
        self.post_message(InspectReady(model, inspection, label))

    @on(InspectFailed)
    def inspect_failed(self, message: InspectFailed) -> None:
        self.notify(message.error, title="cannot inspect", severity="error", timeout=15)

    @on(InspectReady)
    def inspect_ready(self, message: InspectReady) -> None:
        self.push_screen(InspectScreen(message.model, message.inspection, message.label))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the current screen is in the command palette too."""
        yield from super().get_system_commands(screen)
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
                lambda node=node, action=b.action: self.call_later(node.run_action, action),
            )

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

    # -- leaving ---------------------------------------------------------------------------

    async def action_quit(self) -> None:
        process = self.process
        if process is None or not process.running:
            self.exit(0)
            return
        if isinstance(self.screen, ChoiceScreen):
            return  # q in the quit question itself: it is already asked

        async def answered(choice: str | None) -> None:
            if choice == "leave":
                self.exit(0)
            elif choice == "stop":
                self.notify("saving last.pt, then quitting…", timeout=10)
                self._exit_when_stopped = True
                write_control(process.run_dir, stop=True)

        self.push_screen(
            ChoiceScreen(
                f"{visible(process.run_dir.name)} is training.",
                [("stop", "Save and quit"), ("leave", "Quit, keep training"), ("cancel", "Cancel")],
            ),
            answered,
        )


def checkpoint_label(path: Path, vocab_size: int, ckpt: dict[str, Any]) -> str:
    metrics = ckpt.get("metrics") if isinstance(ckpt.get("metrics"), dict) else {}
    val = (metrics.get("val") or {}).get("loss") if isinstance(metrics.get("val"), dict) else None
    it = ckpt.get("iter")
    where = visible(f"{path.parent.name}/{path.name}")  # a folder name is untrusted
    return f"{where} · iter {it:,} · {vocab_size} characters" + (
        f" · val loss {val:.4f}" if isinstance(val, (int, float)) else ""
    )
