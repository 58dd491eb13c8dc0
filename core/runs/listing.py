"""Finding runs: the run directories under a folder, as run views, newest first.

A run folder may come from anyone (a shared folder, another version, a crash): every
field is read defensively (core/runs/view.py), and a run whose records cannot be read
is still listed, with status `unreadable` and the reason, so one odd folder never hides
the others. A ladder's folder (its ladder.json) lists its rungs together, in order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.records import read_json
from charlm_tui.core.runs.rundir import LADDER, is_run_dir
from charlm_tui.core.runs.view import RunView


def ladder_rungs(folder: Path) -> list[str] | None:
    """The rung names of a ladder folder (its ladder.json, core/experiments/ladder.py) in
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


def _candidates(root: Path) -> tuple[list[tuple[Path, str]], dict[str, list[str]]]:
    """(folder, its ladder or "") of every folder that may hold a run, and the ladders'
    rung orders."""
    ladders: dict[str, list[str]] = {}
    if (rungs := ladder_rungs(root)) is not None:  # `runs checkpoints/<ladder>`
        ladders[root.name] = rungs
        return [(path, root.name) for path in _subfolders(root)], ladders
    found: list[tuple[Path, str]] = []
    for path in _subfolders(root):
        if (rungs := ladder_rungs(path)) is not None:
            ladders[path.name] = rungs
            with contextlib.suppress(CharLMError):  # one odd folder hides nothing else
                found += [(rung, path.name) for rung in _subfolders(path)]
        else:
            found.append((path, ""))
    return found, ladders


class RunViews:
    """The runs of a folder, kept between listings (home lists every two seconds): a run
    that grows is read on from where the last listing stopped, and a run that is gone is
    forgotten. Views made here keep no step records and read no samples."""

    def __init__(self) -> None:
        self._views: dict[Path, RunView] = {}

    def __len__(self) -> int:
        return len(self._views)

    def _view(self, path: Path, group: str) -> RunView:
        view = self._views.get(path)
        if view is None or view.group != group:
            label = f"{group}/{path.name}" if group else path.name
            view = RunView(path, label=label, group=group, curves=False, samples=False)
        self._views[path] = view
        view.update()
        return view

    def list(self, root: Path) -> list[RunView]:
        """Runs in `root` (or `root` itself when it is a run), newest first; the rungs of
        a ladder together, in the ladder's order, where its newest rung would be."""
        if not root.exists():
            raise CharLMError(f"no such directory: {root}")
        if not root.is_dir():
            raise CharLMError(f"{root} is not a directory")
        if is_run_dir(root):
            found, ladders = [(root, "")], {}
        else:
            found, ladders = _candidates(root)
        views = [self._view(path, group) for path, group in found if is_run_dir(path)]
        for gone in set(self._views) - {v.path for v in views}:
            del self._views[gone]
        return _ordered(views, ladders)


def _ordered(views: list[RunView], ladders: dict[str, list[str]]) -> list[RunView]:
    modified = {v.path: v.modified for v in views}
    views = sorted(views, key=lambda v: modified[v.path], reverse=True)
    out, placed = [], set()
    for view in views:
        if not view.group:
            out.append(view)
        elif view.group not in placed:
            placed.add(view.group)
            order = {name: k for k, name in enumerate(ladders.get(view.group) or [])}
            members = [v for v in views if v.group == view.group]
            out += sorted(members, key=lambda v: (order.get(v.path.name, len(order)), v.path.name))
    return out


def list_runs(root: Path) -> list[RunView]:
    """The runs under `root`, read once (`RunViews` keeps them for the next listing)."""
    return RunViews().list(root)


def run_view(run_dir: Path) -> RunView | None:
    """One run directory, read; None when the folder holds no run."""
    if not is_run_dir(run_dir):
        return None
    view = RunView(run_dir, curves=False, samples=False)
    view.update()
    return view


# -- runs named on a command line -----------------------------------------------------------


def runs_in(folder: Path) -> list[Path]:
    """The run directories inside a folder: a ladder's in rung order, others by name."""
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError as e:
        raise CharLMError(f"cannot list {folder}: {e.strerror or e}") from None
    order = {name: i for i, name in enumerate(ladder_rungs(folder) or [])}
    names.sort(key=lambda n: (order.get(n, len(order)), n))
    return [folder / n for n in names if is_run_dir(folder / n)]


def resolve_runs(paths: Sequence[Path]) -> list[Path]:
    """Each argument is a run, or a folder of runs (a ladder: all of its rungs)."""
    out: list[Path] = []
    for p in paths:
        if not p.exists():
            raise CharLMError(f"no such run: {p}")
        if not p.is_dir():
            raise CharLMError(f"{p} is not a run directory")
        found = [p] if is_run_dir(p) else runs_in(p)
        if not found:
            raise CharLMError(f"{p} is not a run directory and holds no runs")
        out += [f for f in found if f not in out]
    return out


def labels_for(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the folder name, with its parent's when two would clash or the
    run is a ladder's rung (`ladder-a/bigram`, `ladder-b/bigram`)."""
    names = [p.name for p in paths]
    clash = {n for n in names if names.count(n) > 1}
    inside_ladder = [ladder_rungs(p.parent) is not None for p in paths]
    return [
        f"{p.parent.name}/{p.name}" if p.name in clash or ladder else p.name
        for p, ladder in zip(paths, inside_ladder, strict=True)
    ]


def load_runs(paths: Sequence[Path]) -> list[RunView]:
    """Views of the runs named, with their curves, read (compare)."""
    views = [RunView(p, label=label, samples=False) for p, label in
             zip(paths, labels_for(paths), strict=True)]  # fmt: skip
    for view in views:
        view.update()
    return views
