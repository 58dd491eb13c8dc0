"""Running real trainings in tests: the CLI's own sequence (plan, build, claim, run),
with sinks that watch the events and may steer the run like a user would; and the command
lines of trainings that a test runs as child processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from charlm_tui.core.config import build_configs
from charlm_tui.core.runs.events import DoneEvent, Event
from charlm_tui.core.runs.rundir import RunDirectory
from charlm_tui.core.training.distributed import DistInfo
from charlm_tui.core.training.plan import RunPlan, plan_new, plan_resume
from charlm_tui.core.training.steering import STOPS, Steering, Stop
from charlm_tui.core.training.trainer import Trainer, build

ROOT = Path(__file__).resolve().parent.parent  # the checkout: where a child CLI runs
CLI = (sys.executable, "-m", "charlm_tui")  # charlm-tui as a child process
TORCHRUN = (sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2")
DDP_CLI = (*TORCHRUN, "-m", "charlm_tui")  # two ranks on this machine


def train_argv(
    corpus: Path | None,
    out: Path | str,
    preset: str | None = "tiny",
    command: Sequence[str] = CLI,
    **options: object,
) -> list[str]:
    """`command --no-ui train` with --preset, --data corpus (None: left out, as for the
    built-in default or a resume), each keyword option (max_iters=20: --max-iters 20;
    resume=True: the bare --resume) and --out. command=() gives what cli.run takes."""
    argv = [*command, "--no-ui", "train"]
    if preset is not None:
        argv += ["--preset", preset]
    if corpus is not None:
        argv += ["--data", str(corpus)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return [*argv, "--out", str(out)]


def resume_argv(out: Path, command: Sequence[str] = CLI, **options: object) -> list[str]:
    """The command line that resumes the run in `out`, with any options it changes."""
    return train_argv(None, out, None, command, resume=True, **options)


def spawn_piped(argv: Sequence[str], text: bool = False) -> subprocess.Popen:
    """Start a child in the checkout, its stdout and stderr piped to the test."""
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text
    )


def run_captured(argv: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a child in the checkout to its end; its output kept as text."""
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


class Collect:
    """A sink that keeps every event and may act on each (e.g. ask for a stop)."""

    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self.events: list[Event] = []
        self.on_event = on_event
        self.closed = False

    def handle(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    def close(self) -> None:
        self.closed = True


class Training:
    """One run: `Training(plan)`, then `.run(sinks...)`; `.steering` steers it while it runs."""

    def __init__(self, plan: RunPlan, write: bool = True) -> None:
        self.plan = plan
        self.write = write  # False: no run directory at all (an in-memory run)
        self.trainer: Trainer = build(plan, DistInfo())
        self.steering = Steering(None, DistInfo(), torch.device("cpu"))
        self.run_dir: RunDirectory | None = None

    def run(self, *sinks: Any) -> DoneEvent:
        if not self.write:
            return self.trainer.run(self.steering, None, sinks)
        with RunDirectory(self.plan.run_dir) as run:
            self.run_dir = run
            resume_iter = self.trainer.state.iter if self.plan.resuming else None
            run.claim(
                self.trainer.config_record(),
                self.plan.tcfg.log_interval,
                self.plan.overwrite,
                resume_iter,
                steered=self.trainer.steered_values(),
                sampled_at_resume=self.trainer.state.sampled_iter == self.trainer.state.iter,
            )
            self.steering = Steering(run.path, DistInfo(), torch.device("cpu"))
            return self.trainer.run(self.steering, run, sinks)

    def stop_when(self, condition: Callable[[Event], bool], stop: Stop = STOPS[1]) -> Collect:
        """A sink that stops the run (as Ctrl-C would) at the first event matching."""

        def check(event: Event) -> None:
            if condition(event):
                self.steering.request_stop(stop)

        return Collect(check)


def new_training(
    corpus: Path, out: Path | None, preset: str = "tiny", overwrite: bool = False, **over: Any
) -> Training:
    values: dict[str, Any] = dict(data=str(corpus))
    values.update(over)
    if out is None:
        build_configs(preset, values)  # checked, as the CLI would
        return Training(plan_new(preset, values, Path("/nonexistent-run-dir")), write=False)
    return Training(plan_new(preset, values, out, overwrite=overwrite))


def short_training(corpus: Path, out: Path | None, preset: str = "tiny", **over: Any) -> Training:
    """A short training in this process: 20 steps, an eval every 10 and no samples,
    unless told otherwise."""
    values: dict[str, Any] = dict(max_iters=20, eval_interval=10, sample_interval=0)
    values.update(over)
    return new_training(corpus, out, preset, **values)


def resumed_training(out: Path, resume_from: str = "last", **changed: Any) -> Training:
    return Training(plan_resume(out, resume_from, changed))  # type: ignore[arg-type]
