"""`--jobs K`: a group's members trained K at a time, each in a process of its own with
its share of the cores, while this process says which started and how each ended.

Each child leads a process group of its own, so a Ctrl-C at the terminal reaches this
process only, which passes it on once to every child: each finishes its step, saves
last.pt and stops, as a run alone would (a second Ctrl-C is passed on too). The members'
records are their progress: rerunning the command carries every unfinished one on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from typing import Any

from charlm_tui.core.experiments.ladder import DONE, Ladder, LadderSession, Rung
from charlm_tui.core.training.plan import RunPlan

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # prctl(2)


def _die_with(parent: int) -> None:
    """On Linux, a SIGTERM (save and stop) when the parent dies, even by SIGKILL: a child
    in a process group of its own is out of reach of the terminal's hangup."""
    if sys.platform != "linux":
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


def _train_member(plan: RunPlan, threads: int, parent: int) -> None:
    """A child's whole life: train one member, its records and checkpoints its output."""
    import torch

    from charlm_tui.core.errors import CharLMError
    from charlm_tui.core.training.distributed import DistInfo
    from charlm_tui.core.training.plan import check_corpus
    from charlm_tui.core.training.trainer import execute

    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # the terminal's Ctrl-C goes to the parent, which passes it on
    _die_with(parent)
    if not plan.tcfg.threads:  # the cores shared out; a --threads given is the user's
        torch.set_num_threads(threads)
    sinks = []
    if plan.tcfg.tensorboard:
        from charlm_tui.core.interop.tensorboard import TensorBoardSink

        sinks.append(TensorBoardSink(plan.run_dir))
    try:
        done = execute(plan, DistInfo(), check_corpus(plan), sinks=sinks)
    except CharLMError as e:
        print(f"charlm-tui: {plan.run_dir.name}: {e}", file=sys.stderr)
        sys.exit(2)
    if done.message:
        print(f"charlm-tui: {plan.run_dir.name}: {done.message}", file=sys.stderr)
    sys.exit(done.exit_code)


@contextlib.contextmanager
def passed_on(children: dict[Any, Any], stopping: list[int]) -> Iterator[None]:
    """While the group trains, a signal to this process goes on to every child."""

    def handler(signum: int, frame: Any) -> None:
        stopping.append(signum)
        for proc in list(children):
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    before = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def run_jobs(
    ladder: Ladder,
    jobs: int,
    threads: int,
    announce: Callable[[str], None],
    ended: Callable[[Rung, str], None],
) -> str:
    """Train every member with training left, `jobs` at a time. Returns "finished", or
    how the first member that did not finish ended (the others run to their own end)."""
    session = LadderSession(ladder)
    context = multiprocessing.get_context("spawn")  # no forked torch threads or locks
    children: dict[Any, Rung] = {}
    stopping: list[int] = []
    outcome = "finished"
    with passed_on(children, stopping):
        while True:
            while not stopping and len(children) < jobs and (step := session.next()):
                rung, plan = step
                announce(session.announce(rung, plan))
                proc = context.Process(
                    target=_train_member,
                    args=(plan, threads, os.getpid()),
                    name=f"charlm-{rung.name}",
                )
                proc.start()
                children[proc] = rung
            if not children:
                break
            wait([p.sentinel for p in children])
            for proc in [p for p in children if not p.is_alive()]:
                proc.join()
                rung = children.pop(proc)
                status = ladder.status(rung)
                ended(rung, status)
                if status not in DONE and outcome == "finished":
                    outcome = status if status != "new" else f"exit {proc.exitcode}"
                    stopping.append(0)  # start no more: rerunning carries them on
    return outcome
