"""Small modal dialogs: a question with a few answers."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from charlm_tui.tui.widgets.bars import KeysFooter


class ChoiceScreen(ModalScreen[str | None]):
    """A question and buttons; dismisses with the chosen button's id (Esc: None).

    Left/Right (and Tab) move between the buttons, Enter presses the focused one. Only
    the focused button is highlighted (no "primary" colour on another one), so the
    button that looks chosen is the one Enter presses."""

    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen .question { width: 1fr; margin-bottom: 1; }
    /* Buttons as wide as their labels: three answers fit a 60-column terminal. */
    ChoiceScreen Button { min-width: 8; }
    ChoiceScreen Button:focus { background: $accent; color: $text; text-style: bold; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("left", "app.focus_previous", "Previous", show=False),
        Binding("right", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, question: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices  # (id, label); the last one has the focus

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question", markup=False)
            with Horizontal(classes="buttons"):
                for key, label in self.choices:
                    yield Button(label, id=key, compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query(Button).last().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
