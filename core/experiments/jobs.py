"""`--jobs K`: a group's members trained K at a time by K worker processes, each with
its share of the cores, while this process says which started and how each ended.

Each worker leads a process group of its own, so a Ctrl-C at the terminal reaches this
process only, which passes it on once to every worker: each finishes its step, saves
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
from multiprocessing.connection import Connection, wait
from typing import Any

from charlm_tui.core.experiments.ladder import DONE, Ladder, LadderSession, Rung

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


def _worker(conn: Connection, threads: int, parent: int) -> None:
    """A child's life: train the members it is sent, one at a time, answering each with
    its exit code, until it is sent None. Torch and the package are imported once per
    worker, not once per member (about 2 s each on a 2-core machine)."""
    import torch

    from charlm_tui.core.errors import CharLMError
    from charlm_tui.core.text.display import visible_line
    from charlm_tui.core.training.distributed import DistInfo
    from charlm_tui.core.training.plan import check_corpus
    from charlm_tui.core.training.steering import BY_SIGNAL
    from charlm_tui.core.training.trainer import execute

    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # the terminal's Ctrl-C goes to the parent, which passes it on
    # A signal before the trainer has its own handlers (while idle, or while a member's
    # model and corpus load) is kept, and stops that member at its first record.
    signals: list[int] = []
    for s in SIGNALS:
        signal.signal(s, lambda signum, frame: signals.append(signum))
    _die_with(parent)

    def watchers(trainer: Any, steering: Any) -> list[Any]:
        class Early:
            def handle(self, event: Any) -> None:
                if signals and steering.stop is None:
                    steering.request_stop(BY_SIGNAL[signals[0]])

            def close(self) -> None:
                pass

        return [Early()]

    while not signals:
        try:
            plan = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if plan is None:
            return
        torch.set_num_threads(plan.tcfg.threads or threads)  # a --threads given is the user's
        sinks = []
        if plan.tcfg.tensorboard:
            from charlm_tui.core.interop.tensorboard import TensorBoardSink

            sinks.append(TensorBoardSink(plan.run_dir))
        try:
            done = execute(plan, DistInfo(), check_corpus(plan), sinks=sinks, watchers=watchers)
            code, message = done.exit_code, done.message
        except CharLMError as e:
            code, message = 2, str(e)
        if message:  # names and messages may hold a corpus's text: never raw
            where = visible_line(plan.run_dir.name)
            print(f"charlm-tui: {where}: {visible_line(message)}", file=sys.stderr, flush=True)
        try:
            conn.send(code)
        except OSError:  # the parent is gone
            return


@contextlib.contextmanager
def passed_on(workers: list[Any], stopping: list[int]) -> Iterator[None]:
    """While the group trains, a signal to this process goes on to every worker."""

    def handler(signum: int, frame: Any) -> None:
        stopping.append(signum)
        for proc in workers:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    before = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)


class Workers:
    """K worker processes, a pipe to each, and the member each one trains."""

    def __init__(self, jobs: int, threads: int) -> None:
        context = multiprocessing.get_context("spawn")  # no forked torch threads or locks
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        for _ in range(jobs):
            mine, theirs = context.Pipe()
            self.procs.append(context.Process(target=_worker, args=(theirs, threads, os.getpid()),
                                              name="charlm-job", daemon=True))  # fmt: skip
            self.conns.append(mine)
        self.busy: dict[int, Rung] = {}  # worker index -> the member it trains

    def start(self) -> None:
        for proc in self.procs:
            proc.start()

    def idle(self) -> list[int]:
        return [i for i in range(len(self.procs)) if i not in self.busy]

    def give(self, i: int, rung: Rung, plan: Any) -> None:
        self.conns[i].send(plan)
        self.busy[i] = rung

    def ended(self) -> list[tuple[Rung, int | None]]:
        """Wait until a busy worker answers or dies; each such member and its exit code."""
        ready = wait(
            [self.conns[i] for i in self.busy] + [self.procs[i].sentinel for i in self.busy]
        )
        out = []
        for i in list(self.busy):
            if self.conns[i] in ready and self.conns[i].poll():
                out.append((self.busy.pop(i), self.conns[i].recv()))
            elif self.procs[i].sentinel in ready:  # died mid-member: its records say how
                self.procs[i].join()
                out.append((self.busy.pop(i), self.procs[i].exitcode))
        return out

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs, strict=True):
            with contextlib.suppress(OSError):
                conn.send(None)
            proc.join()


def run_jobs(
    ladder: Ladder,
    jobs: int,
    threads: int,
    announce: Callable[[str], None],
    ended: Callable[[Rung, str], None],
) -> tuple[str, int]:
    """Train every member with training left, `jobs` at a time. Returns "finished" and 0,
    or how the first member that did not finish ended and its exit code (the others run
    to their own end); a worker that died leaves the group unfinished too."""
    session = LadderSession(ladder)
    workers = Workers(jobs, threads)
    stopping: list[int] = []
    failed: list[tuple[str, int]] = []

    def fail(how: str, code: int | None) -> None:
        if not failed:
            failed.append((how, code or 1))
            stopping.append(0)  # start no more: rerunning carries them on

    with passed_on(workers.procs, stopping):
        workers.start()
        try:
            while True:
                for i in workers.idle():
                    if stopping:
                        break
                    if not (proc := workers.procs[i]).is_alive():  # between members
                        proc.join()
                        fail(f"a worker exited (code {proc.exitcode})", 1)
                        continue
                    if (step := session.next()) is None:
                        break
                    announce(session.announce(*step))
                    workers.give(i, *step)
                if not workers.busy:
                    break
                for rung, code in workers.ended():
                    ended(rung, status := ladder.status(rung))
                    if status not in DONE:
                        fail(status if status != "new" else f"exit {code}", code)
        finally:
            workers.close()
    if failed:
        return failed[0]
    if stopping:  # a signal stopped the group between members
        return "interrupted", 128 + stopping[0]
    return "finished", 0
