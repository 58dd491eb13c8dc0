"""The run directory: what a run writes, and how to read it back.

    checkpoints/<run>/config.json    configuration, corpus, vocabulary size, params
    checkpoints/<run>/metrics.jsonl  start/step/eval/checkpoint/done records, one per line
    checkpoints/<run>/samples.jsonl  text sampled during training
    checkpoints/<run>/last.pt        latest state (resume from here)
    checkpoints/<run>/best.pt        lowest val loss so far

A headless run and the dashboard write and read exactly these files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.errors import CharLMError
from core.events import Event, SampleEvent, StepEvent

RUN_FILES = ("config.json", "metrics.jsonl", "samples.jsonl", "last.pt", "best.pt")
LOCK_NAME = ".lock"


def default_runs_dir() -> Path:
    return Path(os.environ.get("CHARLM_RUNS_DIR", "checkpoints"))


def is_run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_FILES)


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf: write null so every reader can parse every line.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def dump_line(record: dict[str, Any]) -> str:
    return json.dumps(_clean(record), ensure_ascii=False) + "\n"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete records; a half-written last line (a run still writing) is skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        with contextlib.suppress(json.JSONDecodeError):
            rec = json.loads(line)
            if isinstance(rec, dict):
                records.append(rec)
    return records


def rewrite_jsonl(path: Path, keep: Any) -> None:
    """Keep only records for which keep(record) is true (used when resuming)."""
    if not path.exists():
        return
    lines = [dump_line(r) for r in read_jsonl(path) if keep(r)]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)


class RunLock:
    """An exclusive lock on a run directory: two trainings never write to one run."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
            fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class JsonlWriter:
    """Appends one JSON object per line, flushed so a watcher sees whole lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] | None = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self._f is not None:
            self._f.write(dump_line(record))
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class MetricsWriter:
    """Sink: every event but samples to metrics.jsonl, with a wall-clock timestamp."""

    def __init__(self, run_dir: Path) -> None:
        self.out = JsonlWriter(run_dir / "metrics.jsonl")

    def handle(self, event: Event) -> None:
        if isinstance(event, SampleEvent):
            return
        self.out.write({**event.record(), "time": round(time.time(), 3)})

    def close(self) -> None:
        self.out.close()


class StepLogFilter:
    """Wraps a sink so step events reach it only every `interval` iterations."""

    def __init__(self, sink: Any, interval: int) -> None:
        self.sink = sink
        self.interval = interval

    def handle(self, event: Event) -> None:
        if isinstance(event, StepEvent) and event.iter % self.interval:
            return
        self.sink.handle(event)

    def close(self) -> None:
        self.sink.close()


class SamplesWriter:
    """Sink: samples to samples.jsonl."""

    def __init__(self, run_dir: Path) -> None:
        self.out = JsonlWriter(run_dir / "samples.jsonl")

    def handle(self, event: Event) -> None:
        if isinstance(event, SampleEvent):
            self.out.write({**event.record(), "time": round(time.time(), 3)})

    def close(self) -> None:
        self.out.close()


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    tmp = run_dir / ".config.json.tmp"
    tmp.write_text(json.dumps(_clean(config), indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, run_dir / "config.json")


def read_config(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class RunInfo:
    path: Path
    model: str
    n_params: int | None
    iter: int | None
    max_iters: int | None
    best_val_loss: float | None
    corpus: str
    modified: float  # unix time of the newest file
    checkpoints: tuple[str, ...]
    status: str  # "finished", "interrupted", "running?", ...

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.modified)


_RECORDS: dict[Path, tuple[tuple[int, int], list[dict[str, Any]]]] = {}


def _metrics_cached(path: Path) -> list[dict[str, Any]]:
    """read_jsonl, parsed again only when the file changed: the home screen lists every
    run every two seconds, and a long run's metrics.jsonl holds many megabytes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return []
    key = (st.st_mtime_ns, st.st_size)
    hit = _RECORDS.get(path)
    if hit is None or hit[0] != key:
        hit = _RECORDS[path] = (key, read_jsonl(path))
    return hit[1]


def run_info(run_dir: Path) -> RunInfo | None:
    if not is_run_dir(run_dir):
        return None
    config = read_config(run_dir) or {}
    mcfg = config.get("model", {}) if isinstance(config.get("model"), dict) else {}
    tcfg = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    records = _metrics_cached(run_dir / "metrics.jsonl")
    last_iter = max((r["iter"] for r in records if isinstance(r.get("iter"), int)), default=None)
    bests = [
        r["val_loss"]
        for r in records
        if r.get("event") == "eval" and isinstance(r.get("val_loss"), (int, float))
    ]
    dones = [r for r in records if r.get("event") in ("done", "start")]
    status = "new"
    if dones:
        last = dones[-1]
        if last["event"] == "done":
            status = last.get("reason", "?")
        else:
            # Started and never finished: still going, or its process died (kill -9, crash).
            status = "running" if RunLock.held(run_dir) else "killed"
    mtimes = [p.stat().st_mtime for p in run_dir.iterdir() if p.is_file()]
    model = mcfg.get("model", "?")
    if model == "gpt" and all(k in mcfg for k in ("n_layer", "n_head", "n_embd")):
        model = f"gpt {mcfg['n_layer']}x{mcfg['n_head']}x{mcfg['n_embd']}"
    return RunInfo(
        path=run_dir,
        model=model,
        n_params=config.get("n_params"),
        iter=last_iter,
        max_iters=tcfg.get("max_iters"),
        best_val_loss=min(bests) if bests else None,
        corpus=str(tcfg.get("data", "?")),
        modified=max(mtimes, default=0.0),
        checkpoints=tuple(n for n in ("best.pt", "last.pt") if (run_dir / n).is_file()),
        status=status,
    )


def list_runs(root: Path) -> list[RunInfo]:
    """Runs in `root` (or `root` itself when it is a run), newest first."""
    if not root.exists():
        raise CharLMError(f"no such directory: {root}")
    if not root.is_dir():
        raise CharLMError(f"{root} is not a directory")
    candidates = [root] if is_run_dir(root) else sorted(p for p in root.iterdir() if p.is_dir())
    infos = [i for i in (run_info(p) for p in candidates) if i is not None]
    return sorted(infos, key=lambda i: i.modified, reverse=True)
