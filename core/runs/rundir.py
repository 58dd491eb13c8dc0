"""The run directory: what a run writes, and the object that owns it while it trains.

    checkpoints/<run>/config.json    configuration, corpus, vocabulary size, params
    checkpoints/<run>/metrics.jsonl  start/step/eval/checkpoint/note/done records
    checkpoints/<run>/samples.jsonl  text sampled during training
    checkpoints/<run>/last.pt        latest state (resume from here)
    checkpoints/<run>/best.pt        lowest val loss so far
    checkpoints/<run>/control.json   requests from a dashboard (core/runs/control.py)
    checkpoints/<run>/.lock          held by the process that trains here
    checkpoints/<run>/eval.json      full-split evaluations (`compare --full-eval`, ladders)
    checkpoints/<run>/tb/            TensorBoard event files (`train --tensorboard`)

A headless run and the dashboard write and read exactly these files; every module
names them through the constants below.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from charlm_tui.core.errors import CharLMError, CheckpointWriteError
from charlm_tui.core.files import atomic_write_text, open_nofollow, refuse_link, stale_temporaries
from charlm_tui.core.runs.events import Event
from charlm_tui.core.runs.labels import LABELS, Labels, read_labels, write_labels
from charlm_tui.core.runs.records import (
    MetricsWriter,
    SamplesWriter,
    StepLogFilter,
    dump_json,
    read_json,
    rewrite_records,
)

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"
CONTROL = "control.json"
TRAIN_LOG = "train.log"
LOCK = ".lock"
CONTROL_LOCK = ".control.lock"  # serialises the writers of control.json (control_lock)
GENERATIONS = "generations"
CONTROL_DEFAULTS = {"paused": False, "stop": False, "save": 0, "sample": 0}
PROVENANCE = "provenance.json"  # what the run ran on, one session a start (core/runs/provenance.py)
FULL_EVAL = "eval.json"  # full-split evaluations of the run's checkpoints (core/runs/scores.py)
TENSORBOARD = "tb"  # TensorBoard event files (core/interop/tensorboard.py)
EXPORT = "export"  # `export --safetensors` and `--csv` write here by default
LADDER = "ladder.json"  # marks a folder of ladder rungs (core/experiments/ladder.py)
CHECKPOINT_KINDS = ("best", "last")  # a run directory stands for the first that exists
RUN_FILES = (CONFIG, METRICS, SAMPLES, *(f"{kind}.pt" for kind in CHECKPOINT_KINDS))


def checkpoint_name(kind: str) -> str:
    return f"{kind}.pt"


def resolve_in_run(run_dir: Path) -> Path:
    """A run directory stands for its best checkpoint, or its last one."""
    for kind in CHECKPOINT_KINDS:
        if (run_dir / checkpoint_name(kind)).is_file():
            return run_dir / checkpoint_name(kind)
    raise CharLMError(f"{run_dir} holds no checkpoint (best.pt or last.pt)")


def checkpoint_path(path: str | Path) -> Path:
    """What a CHECKPOINT argument names: a file as it is, a run directory as its best.pt
    (else last.pt), a folder `export --safetensors` wrote as itself (load_model reads
    it); a one-line CharLMError when it cannot be used."""
    from charlm_tui.core.models.exported import DESCRIPTION, WEIGHTS, is_exported

    path = Path(path)
    try:
        is_dir = path.is_dir()
    except OSError as e:  # a name too long, a loop of links...
        raise CharLMError(f"cannot use {str(path)[:80]!r} as a checkpoint: {e.strerror}") from None
    if not is_dir:
        return path
    try:
        return resolve_in_run(path)
    except CharLMError:
        if is_exported(path):
            return path
        raise CharLMError(
            f"{path} holds no checkpoint (best.pt or last.pt) and no export ({DESCRIPTION} "
            f"and {WEIGHTS})"
        ) from None


def is_run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_FILES)


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """config.json as a dict, or None when it is missing, unreadable or not ours (a run's
    has a "model" and a "train" section)."""
    data = read_json(run_dir / CONFIG, 1 << 22)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), dict) for k in ("model", "train")
    ):
        return None
    return data


def config_section(config: dict[str, Any], name: str) -> dict[str, Any]:
    """config.json's "model" or "train" section; {} where the file had none (or not a
    dict): callers read its values with their own checks."""
    section = config.get(name)
    return section if isinstance(section, dict) else {}


def save_generation(run_dir: Path, text: str) -> Path:
    """Write a generated text to <run>/generations/<time>.txt, never over an earlier one."""
    folder = run_dir / GENERATIONS
    refuse_link(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = folder / (f"{stamp}.txt" if n == 0 else f"{stamp}-{n}.txt")
        try:
            with path.open("x", encoding="utf-8") as f:  # "x": an earlier save stays
                f.write(text)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder} has 1,000 saves from {stamp}")


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    atomic_write_text(run_dir / CONFIG, dump_json(config, indent=2) + "\n")


_CONTROL_HELD: set[Path] = set()  # control locks this process holds: taking one nests


@contextlib.contextmanager
def control_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's control lock: one writer of control.json at a time, across
    processes (flock on .control.lock), so a read-modify-write (one more save, the
    learning rate times 0.8) never loses another's update. Nested uses in one process
    hold it once; a lock file that is a link is refused."""
    key = run_dir.absolute()
    if key in _CONTROL_HELD:
        yield
        return
    try:
        fd = open_nofollow(run_dir / CONTROL_LOCK, os.O_RDWR | os.O_CREAT)
    except OSError as e:  # a read-only run folder, say: nothing can be asked of the run
        raise CharLMError(f"cannot steer {run_dir}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _CONTROL_HELD.add(key)
        try:
            yield
        finally:
            _CONTROL_HELD.discard(key)
    finally:
        os.close(fd)  # releases the flock


class RunLock:
    """An exclusive lock on a run directory: two trainings never write to one run."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock (again: a no-op), or a one-line CharLMError when another process
        holds it or `.lock` is not a plain file of this folder."""
        if self._fd is not None:
            return
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        for attempt in range(5):  # a dashboard's `held` probe holds it for microseconds
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt < 4:
                    time.sleep(0.05)
        else:
            os.close(fd)
            raise CharLMError(
                f"{self.path.parent} is in use by another training process; "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    @staticmethod
    def held(run_dir: Path) -> bool:
        """Whether a live process trains in run_dir (the lock dies with its process)."""
        try:
            fd = os.open(run_dir / LOCK, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RunDirectory:
    """The run directory of a training, owned by it from `claim` to the end of `with`.

    with RunDirectory(path) as run:
        run.claim(config, overwrite=..., resume_iter=...)
        ... run.sinks receive events, run.save(state, "last") writes checkpoints ...

    Claiming takes the lock, removes our stale temporary files, clears an overwritten
    run or the records a resumed run will redo, writes config.json and opens the
    writers; if it fails, it leaves nothing behind that it created. Leaving the `with`
    closes the writers and releases the lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = RunLock(path)
        self.sinks: list[Any] = []

    def file(self, name: str) -> Path:
        return self.path / name

    def checkpoint(self, kind: str) -> Path:
        return self.path / checkpoint_name(kind)

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def claim(
        self,
        config: dict[str, Any],
        log_interval: int,
        overwrite: bool,
        resume_iter: int | None,
        steered: dict[str, Any] | None = None,
        sampled_at_resume: bool = False,
        labels: Labels | None = None,
    ) -> None:
        created_dir = not self.path.exists()
        wrote_config = False
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.lock.acquire()
            self._clear(overwrite, resume_iter, sampled_at_resume)
            existed = self.file(CONFIG).exists()
            write_config(self.path, config)
            wrote_config = not existed
            if labels:  # a resume keeps what it was not given: --tag leaves the notes
                if resume_iter is not None:
                    old = read_labels(self.path)
                    labels = Labels(labels.tag or old.tag, labels.notes or old.notes)
                try:
                    write_labels(self.path, labels)
                except CharLMError:  # under our lock: no half-started run is left
                    self.close()
                    self._undo(created_dir, wrote_config)
                    raise
            # A stale control.json from an earlier run must not steer this one; it starts
            # with the values in force, so every request in it is an absolute value.
            control = {**CONTROL_DEFAULTS, **(steered or {})}
            with control_lock(self.path):
                atomic_write_text(self.file(CONTROL), json.dumps(control), durable=False)
            self.sinks = [
                StepLogFilter(MetricsWriter(self.file(METRICS)), log_interval),
                SamplesWriter(self.file(SAMPLES)),
            ]
        except OSError as e:
            self.close()
            self._undo(created_dir, wrote_config)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CheckpointWriteError(
                    f"cannot start in {self.path}: {e.strerror}; nothing was left behind"
                ) from None
            raise CharLMError(
                f"cannot write the run directory {self.path}: {e.strerror or e}"
            ) from None

    def _clear(self, overwrite: bool, resume_iter: int | None, sampled_at_resume: bool) -> None:
        """What the new training must not find: a replaced run's files, our temporaries
        left by a killed process, and the records a resume will redo."""
        if overwrite:
            for name in (*RUN_FILES, FULL_EVAL, LABELS, PROVENANCE):
                self.file(name).unlink(missing_ok=True)
            for folder in (TENSORBOARD, EXPORT):  # the replaced run's event files and exports
                path = self.file(folder)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
        for stale in stale_temporaries(self.path):
            stale.unlink(missing_ok=True)  # left by a process killed mid-write
        if resume_iter is not None:
            # Drop what the interrupted run logged after its checkpoint: it is redone.
            rewrite_records(self.file(METRICS), lambda e: e.iter <= resume_iter)
            # A sample of the resume iteration stays if the checkpoint was saved after
            # it (a save while paused): the resumed run will not draw it again.
            last = resume_iter if sampled_at_resume else resume_iter - 1
            rewrite_records(self.file(SAMPLES), lambda e: e.iter <= last)

    def _undo(self, created_dir: bool, wrote_config: bool) -> None:
        """A failed start leaves the folder as it found it, so a retry is not refused."""
        if wrote_config:
            self.file(CONFIG).unlink(missing_ok=True)
        for stale in stale_temporaries(self.path) if self.path.is_dir() else []:
            stale.unlink(missing_ok=True)
        if created_dir:
            with contextlib.suppress(OSError):
                self.file(LOCK).unlink(missing_ok=True)
                for name in (METRICS, SAMPLES):
                    if self.file(name).exists() and not self.file(name).stat().st_size:
                        self.file(name).unlink()
                self.path.rmdir()

    def write_config(self, config: dict[str, Any]) -> None:
        """Rewrite config.json (steering changed the run's options)."""
        try:
            write_config(self.path, config)
        except OSError as e:
            raise CheckpointWriteError(
                f"could not write {self.file(CONFIG)}: {e.strerror or e}; the last "
                "checkpoint is intact"
            ) from None

    def emit(self, event: Event, strict: bool = True) -> None:
        for sink in self.sinks:
            try:
                sink.handle(event)
            except OSError as e:  # a full disk under metrics.jsonl, say
                if strict:
                    raise CheckpointWriteError(
                        f"could not write to {self.path} at iteration {event.iter}: "
                        f"{e.strerror or e}; the last checkpoint is intact"
                    ) from None

    def save(self, state: dict[str, Any], kind: str, iteration: int) -> Path:
        """Write last.pt or best.pt atomically; any failure is one CheckpointWriteError."""
        from charlm_tui.core.models.checkpoint import save_checkpoint

        path = self.checkpoint(kind)
        try:
            save_checkpoint(state, path)
        except (OSError, RuntimeError) as e:
            # torch's zip writer reports a full disk as a RuntimeError ("unexpected pos")
            detail = getattr(e, "strerror", None) or str(e).strip().splitlines()[0][:120]
            if isinstance(e, RuntimeError) and "unexpected pos" in str(e):
                detail = "no space left on the device (or the write failed)"
            raise CheckpointWriteError(
                f"could not write {path} at iteration {iteration}: {detail}; "
                "the previous checkpoint is intact"
            ) from None
        return path

    def close(self) -> None:
        for sink in self.sinks:
            with contextlib.suppress(OSError):
                sink.close()
        self.sinks = []
        self.lock.release()
