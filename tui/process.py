"""Training in a child process: the headless CLI itself, steered through control.json.

The dashboard never trains on its own thread: Python's GIL would make the UI and the
training loop take turns. A child process (`charlm-tui --no-ui train --out RUN ...`)
trains at full speed, writes the run directory, and the dashboard follows those files
exactly as `watch` does. Its output goes to RUN/train.log.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from charlm_tui.core.files import open_append
from charlm_tui.core.runs.rundir import TRAIN_LOG
from charlm_tui.core.training.plan import RunPlan


def train_argv(plan: RunPlan) -> list[str]:
    """The command line of a child that carries out exactly this plan."""
    return [sys.executable, "-m", "charlm_tui", "--no-ui", "train", *plan.argv()]


class TrainingProcess:
    """A training child of this app, and how it ended."""

    def __init__(self, run_dir: Path, argv: list[str]) -> None:
        self.run_dir = run_dir
        self.argv = argv  # train_argv(plan), or any command line that trains into run_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / TRAIN_LOG

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._log = open_append(self.log_path, binary=True)
        # Its own session: Ctrl-C or a closed terminal reaches the dashboard, not the run.
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, cancelled: Callable[[], bool] = lambda: False) -> int | None:
        """Block until the child exits (call from a thread worker): its exit code; or
        None as soon as cancelled() says the app is closing, which leaves the run going.
        A thread stuck in a plain wait() would keep the closing app alive until then."""
        assert self.proc is not None
        code = None
        # poll() and a plain sleep: Popen.wait(timeout) polls with a backoff of its own,
        # ~60 wake-ups a second of the UI process, each one taken from the training.
        while not cancelled():
            code = self.proc.poll()
            if code is not None:
                break
            time.sleep(0.2)
        if self._log is not None:
            self._log.close()
        return code

    def error_line(self) -> str:
        """The child's last error message, from its log."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        errors = [ln for ln in lines if ln.startswith("charlm-tui:") or "Error" in ln]
        return (errors or lines or [""])[-1]
