"""A run's records on disk: metrics.jsonl and samples.jsonl, written and read back typed.

One JSON object per line, appended and flushed one at a time, so another process can
follow a run as it grows. One rule for every reader: a line counts once it ends with a
newline (a half-written last line waits), and a line that is not a known event is
skipped (core/runs/events.py `from_record`). Readers never block: a FIFO or a folder where a
file should be is treated as unreadable, not opened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from charlm_tui.core.files import Unreadable, atomic_write_bytes, open_append, open_regular
from charlm_tui.core.runs.events import Event, SampleEvent, StepEvent, decode_line, record_of


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf: write null so every reader can parse every line.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dump_json(value: Any, **kwargs: Any) -> str:
    return json.dumps(_clean(value), **{"ensure_ascii": False, **kwargs})


def dump_line(record: dict[str, Any]) -> str:
    return dump_json(record) + "\n"


class JsonlWriter:
    """Appends one JSON object per line, flushed so a watcher sees whole lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] | None = open_append(path)

    def write(self, record: dict[str, Any]) -> None:
        if self._f is not None:
            self._f.write(dump_line(record))
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def stamped(event: Event) -> dict[str, Any]:
    """The record of an event with the wall-clock time it was written."""
    return record_of(dataclasses.replace(event, time=round(time.time(), 3)))


class MetricsWriter:
    """Sink: every event but samples to metrics.jsonl."""

    def __init__(self, path: Path) -> None:
        self.out = JsonlWriter(path)

    def handle(self, event: Event) -> None:
        if not isinstance(event, SampleEvent):
            self.out.write(stamped(event))

    def close(self) -> None:
        self.out.close()


class SamplesWriter:
    """Sink: samples to samples.jsonl."""

    def __init__(self, path: Path) -> None:
        self.out = JsonlWriter(path)

    def handle(self, event: Event) -> None:
        if isinstance(event, SampleEvent):
            self.out.write(stamped(event))

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


def read_json(path: Path, limit: int = -1) -> Any:
    """A JSON file that may come from anyone (a run folder from elsewhere): its value, or
    None when it is missing, not a regular file (never blocking on a FIFO), not UTF-8,
    not JSON or nested too deep; at most `limit` bytes are read (-1: all)."""
    try:
        with open_regular(path) as f:
            return json.loads(f.read(limit).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


class JsonlTail:
    """Complete new records of a growing file, read incrementally.

    Notices when the file was replaced or truncated (a resume rewrites it): `read`
    then says so and returns the records of the new file from its start.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.inode: int | None = None
        self.error: str | None = None  # why the file cannot be read, if it cannot

    def read(self) -> tuple[list[Event], bool]:
        """(new events, whether the file was replaced since the last read)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return [], False
        except OSError as e:
            self.error = e.strerror or str(e)
            return [], False
        if not stat.S_ISREG(st.st_mode):
            self.error = f"{self.path.name} is not a regular file"
            return [], False
        reset = self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset)
        if reset:
            self.offset, self.partial = 0, b""
        self.inode = st.st_ino
        if st.st_size == self.offset:
            return [], reset
        try:
            with open_regular(self.path) as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError as e:
            self.error = e.strerror or str(e)
            return [], reset
        self.error = None
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()  # empty when the chunk ended with a newline
        with gc_paused():
            return [e for e in map(decode_line, lines) if e is not None], reset


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while many records are built: they hold no cycles,
    yet each collection walks all of them again; 100k step records read in half the
    time without it (bench/records_scale.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_records(path: Path) -> list[Event]:
    """Every complete, well-formed event of a records file ([] if it does not exist);
    Unreadable if the path is a folder, a FIFO or cannot be read."""
    tail = JsonlTail(path)
    events, _ = tail.read()
    if tail.error:
        raise Unreadable(tail.error)
    return events


def rewrite_records(path: Path, keep: Callable[[Event], bool]) -> None:
    """Drop the events for which keep(event) is false (a resume drops what the
    interrupted run logged after its checkpoint); lines we cannot read stay as they are."""
    try:
        with open_regular(path) as f:
            data = f.read()
    except FileNotFoundError:
        return
    lines = data.split(b"\n")[:-1]  # a half-written last line is dropped
    kept = [line + b"\n" for line in lines if (e := decode_line(line)) is None or keep(e)]
    atomic_write_bytes(path, b"".join(kept))
