"""Renaming and deleting a run directory, with the checks that keep both safe.

Home's rename and delete keys call these (a CLI could too): each refuses, with a
one-line CharLMError, a folder that is not a charlm-tui run, a symbolic link, and a run
a process trains in. The check for a training holds the run's lock exclusively for the
whole change, so a training cannot start in the folder between the check and the rename
or the delete. Nothing here follows a link out of the run's folder: a link is refused,
and shutil.rmtree removes links inside the folder, never what they point to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.listing import ladder_rungs
from charlm_tui.core.runs.rundir import LOCK, read_config

LOCK_TRIES = 5  # a dashboard's `RunLock.held` probe holds the lock for microseconds


def check_managed(run_dir: Path) -> None:
    """run_dir is a folder of its own (not a link) holding a charlm-tui run (its
    config.json has the run's sections); else a one-line CharLMError."""
    if run_dir.is_symlink():
        raise CharLMError(
            f"{run_dir} is a symbolic link: charlm-tui renames and deletes only run folders "
            "themselves (remove or rename the link by hand)"
        )
    if not run_dir.is_dir():
        raise CharLMError(f"no such run: {run_dir}")
    if read_config(run_dir) is None:
        raise CharLMError(
            f"{run_dir} is not a charlm-tui run (no readable config.json): left as it is"
        )


def is_rung(run_dir: Path) -> bool:
    """The run is a rung of a ladder: its folder holds a ladder.json."""
    return ladder_rungs(run_dir.parent) is not None


@contextlib.contextmanager
def quiet_run(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock exclusively (a training holds it while it trains), without
    writing to it; a CharLMError when a process trains there. A run without a lock file
    never started training here; a lock file that is a link is not a trainer's (it opens
    its lock without following links), so neither is held."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ELOOP):
            raise CharLMError(f"cannot check {run_dir / LOCK}: {e.strerror or e}") from None
        fd = None
    if fd is None:
        yield
        return
    try:
        for attempt in range(LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == LOCK_TRIES - 1:
                    raise CharLMError(
                        f"{run_dir.name} is training (a process holds its lock): stop it "
                        "first, then try again"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def rename_run(run_dir: Path, name: str) -> Path:
    """Rename the run's folder to `name` (a plain folder name, checked by the caller as
    `--name` is: core/training/plan.py `check_run_name`) in the same folder; the new
    path. Refused for a ladder's rung (ladder.json lists its rungs by name), a training
    run, and a name already taken."""
    check_managed(run_dir)
    if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
        raise CharLMError(f"the new name must be a plain folder name, not {name!r}")
    if is_rung(run_dir):
        raise CharLMError(
            f"{run_dir.name} is a rung of the ladder {run_dir.parent.name}: its ladder.json "
            "lists its rungs by name, so a rung keeps its name"
        )
    target = run_dir.parent / name
    if target == run_dir:
        return run_dir
    if os.path.lexists(target):
        raise CharLMError(f"{target} exists: choose another name")
    with quiet_run(run_dir):
        try:
            # A directory renamed onto an empty one replaces it: checked just above.
            os.rename(run_dir, target)
        except OSError as e:
            raise CharLMError(f"cannot rename {run_dir} to {name}: {e.strerror or e}") from None
    return target


def delete_run(run_dir: Path) -> None:
    """Remove the run's folder and every file in it; refused for a training run."""
    check_managed(run_dir)
    with quiet_run(run_dir):
        try:
            # rmtree refuses a link at the top and removes links inside as links.
            shutil.rmtree(run_dir)
        except OSError as e:
            where = e.filename or run_dir
            raise CharLMError(
                f"could not delete all of {run_dir}: {where}: {e.strerror or e}; "
                "what is left is still there"
            ) from None
