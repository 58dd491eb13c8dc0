"""The generate pane's sampling settings as one widget: temperature, top-k, top-p, how
many characters, seed: the options of `GenerateOptions` that carry a form label
(core/decoding/sampling.py). It checks them as they are typed, by their declarations,
the rules `sample` uses, and marks every invalid field at once with what is wrong."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label

from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.options import Spec, specs
from charlm_tui.tui.forms import parse_number
from charlm_tui.tui.widgets.inputs import OrderedInput

FIELDS: tuple[Spec, ...] = tuple(s for s in specs(GenerateOptions).values() if s.form)


def read_field(spec: Spec, raw: str) -> Any:
    """The typed value of a field, or what is wrong with it (a str)."""
    value = parse_number(raw, spec.base)
    if isinstance(value, str):
        return value
    problem = spec.problem(value)
    return problem if problem is not None else value


class SamplingFields(Horizontal):
    DEFAULT_CSS = """
    SamplingFields { height: auto; }
    SamplingFields > Vertical { width: 1fr; height: auto; }
    SamplingFields Input {
        width: 1fr;
        border: round $primary 60%;
        border-title-color: $text-muted;
    }
    SamplingFields Input.-invalid { border: round $error; }
    SamplingFields .field-error { height: 1; color: $error; padding: 0 1; display: none; }
    SamplingFields .field-error.-shown { display: block; }
    """

    class Submitted(Message):
        """Enter in one of the fields."""

    def __init__(self, options: GenerateOptions, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial = options

    def compose(self) -> ComposeResult:
        for spec in FIELDS:
            with Vertical():
                value = getattr(self.initial, spec.name)
                field = OrderedInput(str(value), id=spec.name, tooltip=spec.help)
                field.border_title = spec.form
                yield field
                yield Label("", id=f"{spec.name}-error", classes="field-error")

    def values(self) -> dict[str, Any]:
        """{field: its value, or what is wrong with it}, each field marked as it reads."""
        found = {}
        for spec in FIELDS:
            value = read_field(spec, self.query_one(f"#{spec.name}", Input).value)
            problem = value if isinstance(value, str) else None
            self.query_one(f"#{spec.name}", Input).set_class(bool(problem), "-invalid")
            label = self.query_one(f"#{spec.name}-error", Label)
            label.update(problem or "")
            label.set_class(bool(problem), "-shown")
            found[spec.name] = value
        return found

    def errors(self) -> dict[str, str]:
        """{field: what is wrong} for every invalid field, shown next to each."""
        return {k: v for k, v in self.values().items() if isinstance(v, str)}

    def options(self, prompt: str, precision: str) -> GenerateOptions | None:
        """The settings as typed, or None (each invalid field says why)."""
        values = self.values()
        if any(isinstance(v, str) for v in values.values()):
            return None
        return replace(self.initial, prompt=prompt, precision=precision, **values)  # type: ignore[arg-type]

    def next_seed(self) -> None:
        seed = self.query_one("#seed", Input)
        value = parse_number(seed.value, int)
        seed.value = str(value + 1 if isinstance(value, int) else 0)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.errors()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted())
