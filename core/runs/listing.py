"""Listing runs: one summary per run directory, for `charlm-tui runs` and the home screen.

A run folder may come from anyone (a shared folder, another version, a crash): every
field is read defensively, and a run that cannot be read is still listed, marked
unreadable with the reason, so one odd folder never hides the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from charlm_tui.core.config import RunLength, shape_label
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    Event,
    StartEvent,
    StepEvent,
)
from charlm_tui.core.runs.records import JsonlTail, Unreadable, read_json
from charlm_tui.core.runs.rundir import (
    CHECKPOINT_KINDS,
    LADDER,
    METRICS,
    RunLock,
    checkpoint_name,
    config_section,
    is_run_dir,
    read_config,
)


@dataclass(frozen=True)
class RunInfo:
    path: Path
    model: str
    n_params: int | None
    iter: int | None  # where a resume would start: last.pt's iteration when it has one
    length: RunLength | None
    best_val_loss: float | None
    corpus: str
    modified: float  # Unix time of the newest file
    checkpoints: tuple[str, ...]
    status: str  # new, running, finished, stopped, interrupted, terminated, killed, ...
    error: str = ""  # why the run cannot be read, when status is "unreadable"
    group: str = ""  # the ladder (core/training/ladder.py) whose rung this run is

    @property
    def label(self) -> str:
        """The run's name, with its ladder's: `ladder-x/bigram`."""
        return f"{self.group}/{self.path.name}" if self.group else self.path.name

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.modified)


# The home screen lists every run every two seconds, and a long run's metrics.jsonl holds
# megabytes: each file is followed with a tail, so a run that grows is read from where
# the last listing stopped, not from its start.
_TAILS: dict[Path, tuple[JsonlTail, list[Event]]] = {}


def _records(path: Path) -> list[Event]:
    hit = _TAILS.get(path)
    if hit is None:
        hit = _TAILS[path] = (JsonlTail(path), [])
    tail, events = hit
    new, reset = tail.read()
    if tail.error:
        _TAILS.pop(path, None)
        raise Unreadable(tail.error)
    if reset:  # a resume rewrote it: what it holds now, from its start
        events.clear()
    events.extend(new)
    return events


def run_status(events: list[Event], run_dir: Path) -> str:
    """finished/stopped/... from the last done record; running or killed when the last
    start has no done after it (its process holds the lock, or is gone)."""
    last = next((e for e in reversed(events) if isinstance(e, (StartEvent, DoneEvent))), None)
    if last is None:
        return "new"
    if isinstance(last, DoneEvent):
        return last.reason
    return "running" if RunLock.held(run_dir) else "killed"


def run_info(run_dir: Path) -> RunInfo | None:
    if not is_run_dir(run_dir):
        return None
    mtimes = []
    with contextlib.suppress(OSError):
        for p in run_dir.iterdir():
            with contextlib.suppress(OSError):
                st = p.lstat()
                if stat.S_ISREG(st.st_mode):
                    mtimes.append(st.st_mtime)
    modified = max(mtimes, default=0.0)
    checkpoints = tuple(
        checkpoint_name(k) for k in CHECKPOINT_KINDS if (run_dir / checkpoint_name(k)).is_file()
    )
    config = read_config(run_dir) or {}
    model, train = config_section(config, "model"), config_section(config, "train")
    n_params = config.get("n_params")
    n_params = n_params if isinstance(n_params, int) and not isinstance(n_params, bool) else None
    corpus = train.get("data")
    try:
        events = _records(run_dir / METRICS)
    except (Unreadable, OSError) as e:
        return RunInfo(
            run_dir, shape_label(model), n_params, None, None, None, str(corpus or "?"), modified,
            checkpoints, "unreadable", f"{METRICS}: {e}",
        )  # fmt: skip
    evals = [e.val.loss for e in events if isinstance(e, EvalEvent) and math.isfinite(e.val.loss)]
    saved = [e for e in events if isinstance(e, CheckpointEvent) and e.kind == "last"]
    stepped = [e.iter for e in events if isinstance(e, (StepEvent, EvalEvent, DoneEvent))]
    status = run_status(events, run_dir)
    # What a resume would start from: the last checkpoint, not the last logged step.
    it = saved[-1].iter if saved and status != "running" else max(stepped, default=None)
    return RunInfo(
        path=run_dir,
        model=shape_label(model),
        n_params=n_params,
        iter=it,
        length=RunLength.of(train),
        best_val_loss=min(evals) if evals else None,
        corpus=corpus if isinstance(corpus, str) else "?",
        modified=modified,
        checkpoints=checkpoints,
        status=status,
    )


def ladder_rungs(folder: Path) -> list[str] | None:
    """The rung names of a ladder folder (its ladder.json, written by core/training/ladder.py) in
    order, or None when the folder is not a ladder. Read like any file from anyone."""
    raw = read_json(folder / LADDER)
    rungs = raw.get("rungs") if isinstance(raw, dict) else None
    if not isinstance(rungs, list):
        return None
    return [r for r in rungs if isinstance(r, str) and r and "/" not in r and r not in (".", "..")]


def _subfolders(root: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise CharLMError(f"cannot list {root}: {e.strerror or e}") from None
    return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]


def list_runs(root: Path) -> list[RunInfo]:
    """Runs in `root` (or `root` itself when it is a run), newest first; the rungs of a
    ladder folder together, in the ladder's order, where its newest rung would be."""
    if not root.exists():
        raise CharLMError(f"no such directory: {root}")
    if not root.is_dir():
        raise CharLMError(f"{root} is not a directory")
    if is_run_dir(root):
        return [i for i in [run_info(root)] if i is not None]
    candidates: list[tuple[Path, str]] = []
    ladders: dict[str, list[str]] = {}
    if (rungs := ladder_rungs(root)) is not None:  # `runs checkpoints/<ladder>`
        ladders[root.name] = rungs
        candidates = [(path, root.name) for path in _subfolders(root)]
    else:
        for path in _subfolders(root):
            if (rungs := ladder_rungs(path)) is not None:
                ladders[path.name] = rungs
                with contextlib.suppress(CharLMError):  # one odd folder hides nothing else
                    candidates += [(rung, path.name) for rung in _subfolders(path)]
            else:
                candidates.append((path, ""))
    infos = []
    for path, group in candidates:
        if (info := run_info(path)) is not None:
            infos.append(dataclasses.replace(info, group=group))
    infos.sort(key=lambda i: i.modified, reverse=True)
    out, placed = [], set()
    for info in infos:
        if not info.group:
            out.append(info)
        elif info.group not in placed:
            placed.add(info.group)
            order = {name: k for k, name in enumerate(ladders.get(info.group) or [])}
            members = [i for i in infos if i.group == info.group]
            out += sorted(members, key=lambda i: (order.get(i.path.name, len(order)), i.path.name))
    return out
