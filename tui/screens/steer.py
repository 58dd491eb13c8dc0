"""A small dialog that asks for new values of steerable options (the dashboard's `e` and
`m`): each field checked as it is typed, by the option's own rule (core/config.py)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from charlm_tui.core.config import SPECS
from charlm_tui.tui.forms import parse_number
from charlm_tui.tui.widgets.inputs import OrderedInput


class SteerScreen(ModalScreen[dict[str, Any] | None]):
    """Fields for some steerable options, filled with the values in force; dismisses
    with the values typed (only the changed ones), or None (Esc)."""

    DEFAULT_CSS = """
    SteerScreen { align: center middle; }
    SteerScreen .dialog { width: 60; max-width: 95%; height: auto; }
    SteerScreen .field-error { color: $error; height: 1; padding-left: 22; }
    SteerScreen .steer-label { width: 22; color: $text-muted; }
    SteerScreen .field { height: 1; margin-top: 1; }
    SteerScreen Input { width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, values: dict[str, Any], labels: dict[str, str]) -> None:
        super().__init__()
        self.heading, self.values, self.labels = title, values, labels

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"[b]{self.heading}[/b]  (from the next step; Esc cancels)")
            for name, value in self.values.items():
                with Horizontal(classes="field"):
                    yield Label(self.labels[name], classes="steer-label")
                    yield OrderedInput(
                        f"{value:g}" if isinstance(value, float) else str(value),
                        id=name,
                        compact=True,
                    )
                yield Label("", id=f"{name}-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="success", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def read(self) -> dict[str, Any] | None:
        """The typed values, or None when any is invalid (each says why beside it)."""
        out, ok = {}, True
        for name in self.values:
            spec = SPECS[name]
            value = parse_number(self.query_one(f"#{name}", Input).value, spec.base)
            problem = value if isinstance(value, str) else spec.problem(value)
            self.query_one(f"#{name}-error", Label).update(f"↳ {problem}" if problem else "")
            if problem:
                ok = False
            else:
                out[name] = value
        self.query_one("#apply", Button).disabled = not ok
        return out if ok else None

    @on(Input.Changed)
    def changed(self) -> None:
        self.read()

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.apply()
        else:
            self.dismiss(None)

    def apply(self) -> None:
        values = self.read()
        if values is not None:
            self.dismiss({k: v for k, v in values.items() if v != self.values[k]})

    def action_cancel(self) -> None:
        self.dismiss(None)
