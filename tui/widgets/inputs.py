"""Text fields that keep keystrokes in the order they were typed.

Textual 8.2.8 handles a printable key in the focused Input's own key handler, but a
bound key (backspace, left, home, delete...) only after the Key event has bubbled up
and come back to the bindings. When both arrive in one terminal read (`tmux send-keys
BSpace a`, a paste, a busy machine), the driver posts them back to back and the
printable one is inserted first: typing "abc", then backspace and "a" in one read gives
"abc", not "aba". Upstream: Textualize/textual#6605 (open; PR #6631 unreleased).

`OrderedInput` runs the Input's own non-priority bindings inline, in `_on_key`, so a
bound key takes effect in its turn. Every Input of the app is one (or a subclass):
tests/test_inputs.py checks that a stock Input still has the bug, so the day Textual fixes
it that test fails and this class can go.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """An Input whose bound keys (backspace, arrows, home...) are handled in the order
    they arrive, even in the same terminal read as a printable key."""

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            # This widget's own bindings (Input's and a subclass's, e.g. history on Up).
            # Priority bindings were already run by the app before the event got here.
            for namespace, bindings in self.screen._modal_binding_chain:
                if namespace is not self:
                    continue
                for binding in bindings.key_to_bindings.get(event.key, ()):
                    if not binding.priority and await self.app.run_action(binding.action, self):
                        self._restart_blink()
                        event.stop()
                        event.prevent_default()
                        return
                break
        await super()._on_key(event)


class FilterInput(OrderedInput):
    """A filter line that shows itself when asked (`open`) and hides again when left
    empty (Enter or `close`), handing the focus back to `back_to`."""

    def __init__(self, back_to: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.back_to = back_to  # a selector: where the focus goes when the filter closes

    def on_mount(self) -> None:
        self.display = False

    def open(self) -> None:
        self.display = True
        self.focus()

    def close(self) -> None:
        self.display = bool(self.value)
        self.screen.query_one(self.back_to).focus()

    def _on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()
