"""One-line bars every screen uses: the keys footer and a status line."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Footer, Label
from textual.widgets._footer import FooterKey

from charlm_tui.tui.formatting import cut_words

WIDE_COLUMNS = 100  # below: keys lose their padding, so "+ LR" and "g Generate" fit 80


class KeysFooter(Footer):
    """Textual's Footer, fitted to the terminal: compact below WIDE_COLUMNS, and the keys
    that do not fit whole left of the command palette's key (docked at the right end)
    are left out, rather than cut to "c C" or covered. Screens list their keys most
    needed first, so the way out stays."""

    async def recompose(self) -> None:
        await super().recompose()
        self.call_after_refresh(self.fit_keys)

    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < WIDE_COLUMNS
        for key in self.query(FooterKey):
            key.display = True  # measured afresh at the new width
        self.call_after_refresh(self.fit_keys)

    def fit_keys(self) -> None:
        keys = list(self.query(FooterKey))
        palette = [k for k in keys if k.has_class("-command-palette")]
        limit = palette[0].region.x if palette else self.region.right
        cut = False
        for key in keys:
            if key in palette:
                continue
            cut = cut or key.region.right > limit
            key.display = not cut


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
