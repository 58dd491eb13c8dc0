"""The dashboard's tabs: a run's samples, its model's layers, its checkpoints."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.widgets import DataTable, RichLog, Static

from charlm_tui.core.runs.rundir import CHECKPOINT_KINDS, checkpoint_name
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import fmt_age, fmt_count, visible_text


class SamplesLog(RichLog):
    """Scrolls like a log: the newest sample at the bottom, followed as it arrives."""

    def __init__(self, **kwargs) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, **kwargs)
        self.shown = 0

    def show(self, view: RunView) -> None:
        if len(view.samples) < self.shown:  # the run was reloaded
            self.clear()
            self.shown = 0
        for sample in view.samples[self.shown :]:
            head = Text(f"── iter {sample.iter} ", style="bold")
            head.append("─" * 20, style="dim")
            self.write(head)
            # Untrusted: a corpus with escape sequences samples them too. A prompt of its
            # own (--sample-prompt) comes first, in bold; the default newline is dropped.
            prompt = sample.prompt.lstrip("\n")
            shown = visible_text(prompt, "bold")
            body = sample.text if prompt else sample.text.lstrip("\n")
            shown.append_text(visible_text(body.rstrip("\n")))
            self.write(shown)
        self.shown = len(view.samples)


def summary_table(view: RunView) -> Table | Text:
    start = view.start
    m = view.model
    if start is None or not start.layers:
        return visible_text(
            f"{m.get('model', '?')} model\n(layer summary appears when training starts)"
        )
    table = Table(box=None, pad_edge=False, expand=False)
    table.add_column("layer")
    table.add_column("type", style="dim")
    table.add_column("params", justify="right")
    for row in start.layers:
        # Names come from the run's records: anyone's file, never markup or escapes.
        table.add_row(visible_text(row.name), visible_text(row.kind), f"{row.params:,}")
    table.add_row("total", "", f"{start.n_params:,}", style="bold")
    if m.get("model") == "gpt":  # configs from before these options mean GPT-2's choices
        table.add_row(
            "positions · MLP",
            visible_text(f"{m.get('position', 'learned')} · {m.get('activation', 'gelu')}"),
            "",
            style="dim",
        )
    t = view.train
    if t:  # configs from before --optimizer trained with AdamW
        table.add_row(
            "optimizer · lr",
            visible_text(f"{t.get('optimizer', 'adamw')} · {t.get('lr', '?')}"),
            "",
            style="dim",
        )
    return table


class ModelSummary(Static):
    _shown: object = None

    def show(self, view: RunView) -> None:
        if view.start is not self._shown:  # the layers change only when a run (re)starts
            self._shown = view.start
            self.update(summary_table(view))


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
