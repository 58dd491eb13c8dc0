"""Every sample the model wrote during training, labelled with its iteration."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import visible_text


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
            # Untrusted: a corpus with escape sequences samples them too.
            self.write(visible_text(sample.text.strip("\n")))
        self.shown = len(view.samples)
