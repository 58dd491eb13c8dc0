"""Where a training's events go: its run directory's records (rank 0 only) and the
sinks beside it (the console, TensorBoard, a test's watcher).

A sink that fails (a TensorBoard folder on a full disk) is dropped with a note; the run
goes on. A record the run directory cannot write is the training's failure (strict),
except for the last one, written while it stops."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from charlm_tui.core.runs.events import Event, NoteEvent, Sink
from charlm_tui.core.runs.rundir import RunDirectory


class Outputs:
    def __init__(self, run: RunDirectory | None, sinks: Iterable[Sink], is_main: bool) -> None:
        self.run = run
        self.sinks = list(sinks)
        self.is_main = is_main

    def emit(self, event: Event, strict: bool = True) -> None:
        if not self.is_main:
            return
        if self.run is not None:
            self.run.emit(event, strict)
        for sink in list(self.sinks):
            try:
                sink.handle(event)
            except OSError as e:  # a TensorBoard folder on a full disk, say: not fatal
                self.sinks.remove(sink)
                with contextlib.suppress(OSError):
                    sink.close()
                self.emit(
                    NoteEvent(event.iter, f"{type(sink).__name__} stopped: {e.strerror or e}")
                )
