"""A run's checkpoints: which iteration each holds, its val loss, size and age."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable

from charlm_tui.core.runs.rundir import CHECKPOINT_KINDS, checkpoint_name
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import fmt_age, fmt_count


class CheckpointList(DataTable):
    """best.pt and last.pt of the run; Enter opens one in the generate pane."""

    def __init__(self, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for col in ("file", "iter", "val loss", "size", "saved"):
            self.add_column(col, key=col)
        self._shown: tuple = ()

    def show(self, view: RunView) -> None:
        rows = []
        for kind in CHECKPOINT_KINDS:
            path = view.path / checkpoint_name(kind)
            try:
                stat = path.stat()
            except OSError:
                continue
            record = view.checkpoints.get(kind)
            val = record.val_loss if record is not None else None
            rows.append(
                (
                    path.name,
                    f"{record.iter:,}" if record is not None else "?",
                    f"{val:.4f}" if val is not None and math.isfinite(val) else "–",
                    fmt_count(stat.st_size) + "B",
                    fmt_age(max(0.0, self.clock() - stat.st_mtime)),
                )
            )
        if tuple(rows) == self._shown:
            return
        self._shown = tuple(rows)
        self.clear()
        for row in rows:
            self.add_row(*row, key=row[0])

    @property
    def selected(self) -> Path | None:
        if not self.row_count or self.cursor_row is None:
            return None
        return Path(str(self.get_row_at(self.cursor_row)[0]))
