"""The app's half that runs trainings: one training child at a time (tui/process.py),
checked off the UI thread before it starts, a ladder's rungs one after another, and
quitting while a run trains (save and quit, or leave it training).

`TrainingApp` is the base of `CharLMApp` (tui/app.py), which adds the screens and
navigation; the messages it handles come from the screens (tui/messages.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App
from textual.message import Message
from textual.worker import get_current_worker

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.experiments.ladder import LadderSession
from charlm_tui.core.runs.control import write_control
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.training.plan import RunPlan, plan_resume, run_values
from charlm_tui.tui.formatting import visible
from charlm_tui.tui.loading import checked, failing
from charlm_tui.tui.messages import (
    OpenCompare,
    OpenNewRunForm,
    ResumeRun,
    RunChecked,
    StartRun,
    TrainingEnded,
)
from charlm_tui.tui.process import TrainingProcess, train_argv
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.dialogs import ChoiceScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.screens.new_run import NewRunScreen


class TrainingApp(App[int]):
    runs_dir: Path
    clock: Callable[[], float]
    process: TrainingProcess | None = None
    ladder: LadderSession | None = None
    _exit_when_stopped = False

    def load(self, what: str, job: Callable[[Any], Message], message: Any) -> None:
        """job(message) in a thread worker (the UI thread never loads a model or runs
        one); the message it returns is posted back here."""
        self.run_worker(
            lambda: self.post_message(failing(what, job, message)),
            thread=True, group=what, exclusive=True, exit_on_error=False,
        )  # fmt: skip

    # -- training --------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        """A training started from here is still going."""
        return self.process is not None and self.process.running

    def busy(self) -> bool:
        """A training started from here is still going (one at a time): says so."""
        if self.training:
            self.notify("a run is already training from here: stop it first", severity="error")
            return True
        return False

    def start_training(self, plan: RunPlan) -> None:
        if self.busy():
            return
        process = TrainingProcess(plan.run_dir, train_argv(plan))
        try:
            process.start()
        except (OSError, CharLMError) as e:  # a read-only folder: said here, the app stays
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.notify(
                visible(f"cannot train in {plan.run_dir}: {reason}"),
                title="training not started", severity="error", timeout=30,
            )  # fmt: skip
            return
        self.process = process
        self.follow_child()
        self.show_run(DashboardScreen(RunView(plan.run_dir), self.process, self.clock))

    def show_run(self, dashboard: DashboardScreen) -> None:
        """Push a run's dashboard; home selects that run for when the user comes back."""
        for screen in self.screen_stack:
            if isinstance(screen, HomeScreen):
                screen.select_run(dashboard.run_dir)
        self.push_screen(dashboard)

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
        if not self.busy():
            self.notify(f"checking {message.plan.run_dir.name}…", timeout=3)
            self.load("start", checked, lambda: message.plan)

    @on(ResumeRun)
    def resume_run(self, message: ResumeRun) -> None:
        if not self.busy():
            self.load(
                "start", checked, lambda: plan_resume(message.run_dir, changed=message.changed)
            )

    @on(RunChecked)
    def run_checked(self, message: RunChecked) -> None:
        self.start_training(message.plan)

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
    def new_run(self, message: OpenNewRunForm) -> None:
        def start(plan: RunPlan | None) -> None:
            if plan is not None:
                self.post_message(StartRun(plan))

        base = None
        if message.from_run is not None:
            try:  # a small JSON file: read here, so a bad one is told before the form opens
                base = run_values(message.from_run)
            except CharLMError as e:
                self.notify(visible(str(e)), severity="error", markup=False)
                return
        self.push_screen(NewRunScreen(self.runs_dir, base, message.from_run), start)

    # -- a ladder: each rung on its dashboard, then all of them compared ------------------------

    def next_rung(self) -> None:
        session = self.ladder
        assert session is not None
        try:
            step = session.next()
        except CharLMError as e:
            self.ladder = None
            self.notify(str(e), title="ladder", severity="error", timeout=15)
            return
        if step is None:
            self.ladder = None
            lad = session.ladder
            self.post_message(OpenCompare(lad.run_dirs(), full_eval=True, by_group=lad.seeds > 1))
            return
        screen = self.screen
        if isinstance(screen, DashboardScreen) and screen.run_dir.parent == session.ladder.root:
            self.pop_screen()  # the previous rung's
        self.notify(session.announce(*step), title="ladder")
        self.start_training(step[1])

    def rung_ended(self) -> None:
        assert self.ladder is not None
        if (why := self.ladder.stopped()) is None:
            self.next_rung()
        else:
            self.ladder = None
            self.notify(why, title="ladder", timeout=15)

    # -- leaving ---------------------------------------------------------------------------

    async def action_quit(self) -> None:
        process = self.process
        if process is None or not process.running:
            self.exit(0)
            return
        if isinstance(self.screen, ChoiceScreen):
            return  # q in the quit question itself: it is already asked

        async def answered(choice: str | None) -> None:
            if choice == "leave" or (choice == "stop" and not process.running):
                self.exit(0)  # a run that ended while the question was open: saved already
            elif choice == "stop":
                self.notify("saving last.pt, then quitting…", timeout=10)
                self._exit_when_stopped = True
                write_control(process.run_dir, stop=True)

        choices = [
            ("stop", "Save and quit"),
            ("leave", "Quit, keep training"),
            ("cancel", "Cancel"),
        ]
        question = (
            f"{visible(process.run_dir.name)} is training. Save and quit stops it once "
            "last.pt is saved; Quit, keep training leaves it running (open it again "
            "from home to watch it)."
        )
        self.push_screen(ChoiceScreen(question, choices), answered)
