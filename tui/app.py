"""The Textual app: home, dashboard and generate screens around one training session."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from core.checkpoint import load_model
from core.config import ModelConfig, TrainConfig, to_dict
from core.errors import CharLMError
from core.events import CheckpointEvent, DoneEvent, Event
from core.rundir import default_runs_dir
from core.sampling import SamplingParams
from core.train import Control, Trainer, prepare
from tui.screens.dashboard import DashboardScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.generate import GenerateScreen
from tui.screens.home import HomeScreen
from tui.screens.new_run import NewRun, NewRunScreen
from tui.state import FileFeed, LiveFeed


class _WorkerSink:
    """Runs on the training thread: honours worker cancellation, reports checkpoints."""

    def __init__(self, session: TrainingSession) -> None:
        self.session = session

    def handle(self, event: Event) -> None:
        worker = self.session.worker
        if worker is not None and worker.is_cancelled:
            self.session.control.stop("stopped")
        if isinstance(event, CheckpointEvent) and event.kind == "last":
            self.session.saved_last(Path(event.path))
        if isinstance(event, DoneEvent):
            self.session.done = event

    def close(self) -> None:
        pass


class TrainingSession:
    """One training run in a thread worker of this app, and the feed that shows it."""

    def __init__(self, app: CharLMApp, trainer: Trainer) -> None:
        self.app = app
        self.trainer = trainer
        self.control: Control = trainer.control
        self.run_dir = trainer.run_dir
        config = to_dict(trainer.mcfg, trainer.tcfg)
        self.feed = LiveFeed(trainer.run_dir, config)
        trainer.sinks += [self.feed.buffer, _WorkerSink(self)]
        self.worker: Worker | None = None
        self.done: DoneEvent | None = None
        self._on_save: Callable[[Path], None] | None = None

    def start(self) -> None:
        self.worker = self.app.run_worker(
            self.trainer.run, thread=True, name="training", group="training", exit_on_error=False
        )

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    @property
    def paused(self) -> bool:
        return self.control.paused.is_set()

    @property
    def status(self) -> str:
        if self.worker is not None and self.worker.state == WorkerState.ERROR:
            return "failed"
        if self.done is not None:
            return self.done.reason
        if self.control.stop_reason:
            return "stopping…"
        return "paused" if self.paused else "training"

    def toggle_pause(self) -> None:
        if self.paused:
            self.control.paused.clear()
        else:
            self.control.paused.set()

    def stop(self) -> None:
        self.control.stop("stopped")

    def open_generate_after_save(self, app: CharLMApp) -> None:
        self._on_save = lambda path: app.call_from_thread(app.open_generate, path)
        self.control.save_now.set()

    def saved_last(self, path: Path) -> None:  # on the training thread
        callback, self._on_save = self._on_save, None
        if callback is not None:
            callback(path)


class CharLMApp(App[int]):
    CSS_PATH = "charlm.tcss"
    TITLE = "charlm-tui"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        *,
        runs_dir: Path | None = None,
        trainer: Trainer | None = None,
        watch: Path | None = None,
        generate: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.runs_dir = runs_dir or default_runs_dir()
        self.session: TrainingSession | None = None
        self._initial_trainer = trainer
        self._watch = watch
        self._generate = generate
        self.clock = clock

    def on_mount(self) -> None:
        if self._initial_trainer is not None:
            self.start_training(self._initial_trainer)
        elif self._watch is not None:
            self.push_screen(DashboardScreen(FileFeed(self._watch)))
        elif self._generate is not None:
            self.open_generate(**self._generate)
        else:
            self.push_screen(HomeScreen(self.runs_dir, clock=self.clock))

    # -- training --------------------------------------------------------------------------

    def start_training(self, trainer: Trainer) -> None:
        if self.session is not None and self.session.running:
            self.notify("a run is already training here: stop it first", severity="error")
            return
        self.session = TrainingSession(self, trainer)
        self.session.start()
        self.push_screen(DashboardScreen(self.session.feed, self.session))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "training" and self.session is not None:
            if event.state == WorkerState.ERROR:
                self.notify(f"training failed: {event.worker.error}", severity="error", timeout=30)
            elif event.state == WorkerState.SUCCESS:
                done = event.worker.result
                if isinstance(done, DoneEvent) and done.message:
                    self.notify(done.message, severity="error", timeout=30)
                elif isinstance(done, DoneEvent):
                    self.notify(f"training {done.reason} at iter {done.iter}", timeout=5)
        elif event.worker.group == "prepare" and event.state == WorkerState.ERROR:
            error = event.worker.error
            msg = (
                str(error) if isinstance(error, CharLMError) else f"{type(error).__name__}: {error}"
            )
            self.notify(msg, severity="error", timeout=15)
        elif event.worker.group == "prepare" and event.state == WorkerState.SUCCESS:
            self.start_training(event.worker.result)

    def action_new_run(self) -> None:
        def start(result: NewRun | None) -> None:
            if result is None:
                return
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = result.name or f"{result.tcfg.preset}-{result.mcfg.model}-{stamp}"
            self.prepare_in_background(result.mcfg, result.tcfg, self.runs_dir / name)

        self.push_screen(NewRunScreen(), start)

    def resume_run(self, run_dir: Path) -> None:
        from core.config import build_configs

        mcfg, tcfg = build_configs("tiny", {})  # replaced by the run's own configuration
        self.prepare_in_background(mcfg, tcfg, run_dir, resume=True)

    def prepare_in_background(
        self, mcfg: ModelConfig, tcfg: TrainConfig, run_dir: Path, resume: bool = False
    ) -> None:
        if self.session is not None and self.session.running:
            self.notify("a run is already training here: stop it first", severity="error")
            return
        self.notify(f"loading {tcfg.data if not resume else run_dir.name}…", timeout=3)

        def work() -> Trainer:
            trainer = prepare(mcfg, tcfg, run_dir, resume=resume)
            if get_current_worker().is_cancelled and trainer.lock is not None:
                trainer.lock.release()
            return trainer

        self.run_worker(work, thread=True, group="prepare", exit_on_error=False)

    # -- navigation ------------------------------------------------------------------------

    def open_run(self, run_dir: Path) -> None:
        if self.session is not None and self.session.run_dir == run_dir:
            self.push_screen(DashboardScreen(self.session.feed, self.session))
        else:
            self.push_screen(DashboardScreen(FileFeed(run_dir)))

    def open_generate(
        self,
        path: Path,
        prompt: str = "",
        params: SamplingParams | None = None,
        max_new: int = 500,
        seed: int = 1337,
    ) -> None:
        try:
            model, vocab, ckpt = load_model(path)
        except CharLMError as e:
            self.notify(str(e), severity="error", timeout=10)
            return
        val = (ckpt.get("metrics") or {}).get("val", {}).get("loss")
        label = (
            f"[b]{path.parent.name}/{path.name}[/b] · iter {ckpt['iter']:,} · "
            f"{len(vocab)} characters" + (f" · val loss {val:.4f}" if val is not None else "")
        )
        self.push_screen(
            GenerateScreen(model, vocab, label, path.parent, prompt, params, max_new, seed)
        )

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

    # -- leaving ---------------------------------------------------------------------------

    async def action_quit(self) -> None:
        session = self.session
        if session is None or not session.running:
            self.exit(0)
            return

        async def answered(yes: bool | None) -> None:
            if not yes:
                return
            self.notify("saving last.pt, then quitting…", timeout=10)
            session.stop()
            await session.worker.wait()
            self.exit(0)

        self.push_screen(
            ConfirmScreen(
                "Training is running. Save last.pt and quit?", "Save and quit", "Keep training"
            ),
            answered,
        )
