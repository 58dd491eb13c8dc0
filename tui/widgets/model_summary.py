"""The model's layers and their parameter counts."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import visible_text


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
