"""The Textual app: home, dashboard and generate screens, and the training it started.

Training runs in a child process (see tui/process.py); the dashboard follows the run
directory it writes and steers it through control.json.
"""

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
from core.config import ModelConfig, TrainConfig
from core.control import write_control
from core.errors import CharLMError
from core.rundir import default_runs_dir
from core.sampling import SamplingParams
from core.train import prepare
from tui.process import TrainingProcess, train_argv
from tui.screens.dashboard import DashboardScreen
from tui.screens.dialogs import ChoiceScreen
from tui.screens.generate import GenerateScreen
from tui.screens.home import HomeScreen
from tui.screens.new_run import NewRun, NewRunScreen
from tui.state import FileFeed


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
        train: tuple[Path, list[str]] | None = None,
        watch: Path | None = None,
        generate: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.runs_dir = runs_dir or default_runs_dir()
        self.process: TrainingProcess | None = None
        self._exit_when_stopped = False
        self._train, self._watch, self._generate = train, watch, generate
        self.clock = clock

    def on_mount(self) -> None:
        if self._train is not None:
            self.start_training(*self._train)
        elif self._watch is not None:
            self.push_screen(DashboardScreen(FileFeed(self._watch)))
        elif self._generate is not None:
            self.open_generate(**self._generate)
        else:
            self.push_screen(HomeScreen(self.runs_dir, clock=self.clock))

    # -- training --------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        return self.process is not None and self.process.running

    def start_training(self, run_dir: Path, argv: list[str]) -> None:
        if self.training:
            self.notify("a run is already training from here: stop it first", severity="error")
            return
        self.process = TrainingProcess(run_dir, argv)
        self.process.start()
        self.run_worker(self.follow_child, thread=True, group="training", exit_on_error=False)
        self.push_screen(DashboardScreen(FileFeed(run_dir), self.process))

    def follow_child(self) -> int | None:
        """Thread worker: the child's exit code; or None when the app quits while the run
        goes on (Textual cancels every worker on exit), so this process can exit now."""
        worker = get_current_worker()
        assert self.process is not None
        return self.process.wait(lambda: worker.is_cancelled)

    def check_then_train(
        self,
        mcfg: ModelConfig,
        tcfg: TrainConfig,
        run_dir: Path,
        resume: bool = False,
    ) -> None:
        """Validate the run off the UI thread (the corpus may take a while), then start it."""
        if self.training:
            self.notify("a run is already training from here: stop it first", severity="error")
            return
        self.notify(f"checking {run_dir.name}…", timeout=3)

        def check() -> tuple[Path, list[str]]:
            prepare(mcfg, tcfg, run_dir, resume=resume, dry_run=True)
            if resume:
                return run_dir, train_argv(None, None, run_dir, resume=True)
            return run_dir, train_argv(mcfg, tcfg, run_dir)

        self.run_worker(check, thread=True, group="check", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "check" and event.state == WorkerState.SUCCESS:
            self.start_training(*worker.result)
        elif worker.group == "check" and event.state == WorkerState.ERROR:
            error = worker.error
            text = str(error) if isinstance(error, CharLMError) else repr(error)
            self.notify(text, title="cannot start", severity="error", timeout=15)
        elif worker.group == "training" and event.state == WorkerState.SUCCESS:
            if self._exit_when_stopped:
                self.exit(0)
                return
            code = worker.result
            if code not in (0, 130) and self.process is not None:
                self.notify(
                    self.process.error_line() or f"training exited with code {code}",
                    title="training failed",
                    severity="error",
                    timeout=30,
                )
            else:
                self.notify("training ended", timeout=4)
        elif worker.group == "training" and event.state == WorkerState.ERROR:
            self.notify(f"lost the training process: {worker.error}", severity="error")

    def action_new_run(self) -> None:
        def start(result: NewRun | None) -> None:
            if result is None:
                return
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = result.name or f"{result.tcfg.preset}-{result.mcfg.model}-{stamp}"
            self.check_then_train(result.mcfg, result.tcfg, self.runs_dir / name)

        self.push_screen(NewRunScreen(), start)

    def resume_run(self, run_dir: Path) -> None:
        from core.config import build_configs

        mcfg, tcfg = build_configs("tiny", {})  # replaced by the run's own configuration
        self.check_then_train(mcfg, tcfg, run_dir, resume=True)

    # -- navigation ------------------------------------------------------------------------

    def open_run(self, run_dir: Path) -> None:
        mine = self.process if self.process and self.process.run_dir == run_dir else None
        self.push_screen(DashboardScreen(FileFeed(run_dir), mine))

    def open_generate(
        self,
        path: Path,
        prompt: str = "",
        params: SamplingParams | None = None,
        max_new: int = 500,
        seed: int = 1337,
        precision: str = "auto",
    ) -> None:
        try:
            model, vocab, ckpt = load_model(path)
            label = self.checkpoint_label(path, vocab, ckpt)
            screen = GenerateScreen(
                model, vocab, label, path.parent, prompt, params, max_new, seed, precision
            )
        except CharLMError as e:
            self.notify(str(e), severity="error", timeout=10)
            return
        self.push_screen(screen)

    @staticmethod
    def checkpoint_label(path: Path, vocab, ckpt: dict[str, Any]) -> str:
        val = (ckpt.get("metrics") or {}).get("val", {}).get("loss")
        return (
            f"[b]{path.parent.name}/{path.name}[/b] · iter {ckpt['iter']:,} · "
            f"{len(vocab)} characters" + (f" · val loss {val:.4f}" if val is not None else "")
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
        process = self.process
        if process is None or not process.running:
            self.exit(0)
            return

        async def answered(choice: str | None) -> None:
            if choice == "leave":
                self.exit(0)
            elif choice == "stop":
                self.notify("saving last.pt, then quitting…", timeout=10)
                self._exit_when_stopped = True
                write_control(process.run_dir, stop=True)

        self.push_screen(
            ChoiceScreen(
                f"{process.run_dir.name} is training.",
                [("stop", "Save and quit"), ("leave", "Quit, keep training"), ("cancel", "Cancel")],
            ),
            answered,
        )
