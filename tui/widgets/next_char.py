"""What the model believes comes next: its five likeliest characters and their odds.

Each row: the character, labelled so that every one is visible (⏎ newline, ␣ space,
◌́ U+0301 for a combining accent, \\x07 for a control character), the probability that
sampling draws it with (after temperature, top-k and top-p), the model's own beside it,
and a bar. Widths are measured in terminal cells (rich.cells), so wide and zero-width
characters keep the columns straight, and the bar takes the room that is left: never
cut, never wider than the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

from charlm_tui.core.decoding.inspect import Choice, char_label, next_char_choices
from charlm_tui.core.decoding.options import SamplingParams

LABEL_MAX = 10  # cells; longer labels (escapes of astral characters) are cut with …
PCT = 6  # "100.0%"
EIGHTHS = " ▏▎▍▌▋▊▉█"


def fit(label: str, width: int) -> str:
    """A label padded or cut to exactly `width` cells."""
    if cell_len(label) > width:
        return set_cell_size(label, width - 1) + "…"
    return set_cell_size(label, width)


def bar(p: float, width: int) -> str:
    """p of `width` cells in eighths of a cell; at least a sliver when p > 0."""
    eighths = round(max(0.0, min(1.0, p)) * width * 8)
    if p > 0 and eighths == 0:
        eighths = 1
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


class NextChar(Widget):
    """The likeliest next characters; or, when there is no prediction, why not.

    `predict` runs the model in a thread worker, never on the UI thread: the newest
    request wins, and an answer for a context that is no longer asked about is dropped."""

    DEFAULT_CSS = """
    NextChar { height: auto; }
    """

    @dataclass
    class Predicted(Message):
        """A worker's answer for one context."""

        context: str
        choices: list[Choice]
        note: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.choices: list[Choice] = []
        self.note = ""
        self.actual: str | None = None
        self.message = "type a prompt to see what the model expects next"
        self.asked = ""  # the context of the newest request

    def predict(self, model: Any, vocab: Any, context: str, params: SamplingParams | None,
                note: str) -> None:  # fmt: skip
        self.asked = context
        self._predict(model, vocab, context, params, note)

    @work(thread=True, exclusive=True, group="next-char", exit_on_error=False)
    def _predict(
        self, model: Any, vocab: Any, context: str, params: SamplingParams | None, note: str
    ) -> None:
        choices = next_char_choices(model, vocab, context, params)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Predicted(context, choices, note))

    @on(Predicted)
    def _predicted(self, message: Predicted) -> None:
        if message.context == self.asked:
            self.show(message.choices, message.note)

    @property
    def top(self) -> list[tuple[str, float]]:
        """(character, the model's probability), likeliest first."""
        return [(c.char, c.raw) for c in self.choices]

    def show(self, choices: list[Choice], note: str = "", actual: str | None = None) -> None:
        """Rows to show; `note` says what "sample" means; `actual` marks a character."""
        self.choices, self.note, self.actual = choices, note, actual
        self.message = "" if choices else "no prediction"
        self.refresh(layout=True)

    def explain(self, message: str) -> None:
        """No prediction to show, and why."""
        self.choices, self.note, self.actual, self.message = [], "", None, message
        self.refresh(layout=True)

    def render(self) -> Text:
        if not self.choices:
            return Text(self.message, style="dim")
        width = max(self.size.width, 12)
        sampled = any(abs(c.sampled - c.raw) > 5e-4 for c in self.choices)
        label_w = min(LABEL_MAX, max(cell_len(char_label(c.char)) for c in self.choices))
        columns = label_w + 1 + PCT + (1 + PCT if sampled else 0)
        bar_w = max(1, width - columns - 1)
        out = Text(no_wrap=True, overflow="crop")
        if self.note:
            out.append(self.note + "\n", style="dim")
        if sampled:
            out.append(" " * (label_w + 1) + "sample".rjust(PCT) + " " + "model".rjust(PCT) + "\n",
                       style="dim")  # fmt: skip
        for i, c in enumerate(self.choices):
            mine = c.char == self.actual
            out.append(fit(char_label(c.char), label_w), style="bold underline" if mine else "")
            out.append(" " + f"{c.sampled if sampled else c.raw:.1%}".rjust(PCT))
            if sampled:
                out.append(" " + f"{c.raw:.1%}".rjust(PCT), style="dim")
            shown = c.sampled if sampled else c.raw
            out.append(" " + bar(shown, bar_w), style="green")
            if i < len(self.choices) - 1:
                out.append("\n")
        return out
