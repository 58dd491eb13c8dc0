"""Training in a child process: the headless CLI itself, steered through control.json.

The dashboard never trains on its own thread: Python's GIL would make the UI and the
training loop take turns. A child process (`charlm-tui --no-ui train --out RUN ...`)
trains at full speed, writes the run directory, and the dashboard follows those files
exactly as `watch` does. Its output goes to RUN/train.log.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

from core.config import ModelConfig, TrainConfig, flag

NOT_OPTIONS = {"vocab_size", "bias"}  # derived from the corpus, or not a CLI option


def train_argv(
    mcfg: ModelConfig | None,
    tcfg: TrainConfig | None,
    run_dir: Path,
    resume: bool = False,
    resume_from: str = "last",
    changed: dict[str, Any] | None = None,
) -> list[str]:
    """The command line that trains exactly these configs into run_dir."""
    argv = [sys.executable, "-m", "tui.cli", "--no-ui", "train", "--out", str(run_dir)]
    if resume:
        argv += ["--resume", "--resume-from", resume_from]
        values = {k: v for k, v in (changed or {}).items() if v is not None}
    else:
        assert mcfg is not None and tcfg is not None
        values = {f.name: getattr(mcfg, f.name) for f in fields(mcfg)}
        values.update({f.name: getattr(tcfg, f.name) for f in fields(tcfg)})
    for name, value in values.items():
        if name in NOT_OPTIONS or value is None:
            continue
        if isinstance(value, bool):  # flags: --compile / --no-compile
            argv.append(flag(name) if value else "--no-" + flag(name)[2:])
        else:
            argv += [flag(name), str(value)]
    return argv


class TrainingProcess:
    """A training child of this app, and how it ended."""

    def __init__(self, run_dir: Path, argv: list[str]) -> None:
        self.run_dir = run_dir
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / "train.log"

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
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
        while not cancelled():
            try:
                code = self.proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                continue
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
