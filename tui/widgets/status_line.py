"""A one-line status: a message cut at a word's end to the width it has, re-cut on resize."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Label

from charlm_tui.tui.formatting import cut_words


class StatusLine(Label):
    """Says one message ("generated 400 characters · Enter: again…"), an error in red;
    cut between words when narrow, whole again when there is room."""

    DEFAULT_CSS = "StatusLine { width: 1fr; }"  # the row's width, not the message's

    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.said: tuple[str, bool] = ("", False)  # the message, and whether an error

    def say(self, message: str, error: bool = False) -> None:
        self.said = (message, error)
        self.fit()

    def fit(self) -> None:
        message, error = self.said
        width = self.size.width or self.app.size.width - 2  # the content's, padding aside
        self.update(Text(cut_words(message, width), style="bold red" if error else ""))

    def on_resize(self) -> None:
        self.fit()
