"""Running real trainings in tests: the CLI's own sequence (plan, build, claim, run),
with sinks that watch the events and may steer the run like a user would."""

from __future__ import annotations

from collections.abc import Callable
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


def resumed_training(out: Path, resume_from: str = "last", **changed: Any) -> Training:
    return Training(plan_resume(out, resume_from, changed))  # type: ignore[arg-type]
