"""The footer of every screen: its keys whole or not at all, none under the palette's."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

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
