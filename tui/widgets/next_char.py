"""What the model believes comes next: its five likeliest characters and their odds."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static


def printable(ch: str) -> str:
    return {"\n": "⏎ newline", " ": "␣ space", "\t": "⇥ tab"}.get(ch, repr(ch)[1:-1] or ch)


class NextChar(Static):
    top: list[tuple[str, float]] = []

    def show(self, top: list[tuple[str, float]], context: str = "") -> None:
        self.top = top
        if not top:
            self.update(Text("type a prompt to see what the model expects next", style="dim"))
            return
        table = Table(box=None, pad_edge=False, show_header=False, expand=True)
        table.add_column("char", width=10)
        table.add_column("p", justify="right", width=6)
        table.add_column("bar", ratio=1)
        for ch, p in top:
            table.add_row(printable(ch), f"{p:.1%}", Text("█" * max(1, round(p * 20)), "green"))
        self.update(table)
