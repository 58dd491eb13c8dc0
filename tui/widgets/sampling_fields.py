"""The generate pane's sampling settings as one widget: temperature, top-k, top-p, how
many characters, seed. It checks them as they are typed, by the same rules as `sample`,
and marks every invalid field at once with what is wrong."""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label

from charlm_tui.core.decoding.sampling import GenerateOptions, SamplingParams
from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.forms import parse_number
from charlm_tui.tui.widgets.inputs import OrderedInput

# (key, title, type): checked by GenerateOptions' own validation
FIELDS: tuple[tuple[str, str, type], ...] = (
    ("temperature", "temp", float),
    ("top_k", "top-k", int),
    ("top_p", "top-p", float),
    ("max_new", "max chars", int),
    ("seed", "seed", int),
)


def _problem(key: str, value: float) -> str | None:
    probe = {
        "temperature": lambda v: SamplingParams(temperature=v).validate(),
        "top_k": lambda v: SamplingParams(top_k=v).validate(),
        "top_p": lambda v: SamplingParams(top_p=v).validate(),
        "max_new": lambda v: GenerateOptions(max_new=v).validate(),
        "seed": lambda v: GenerateOptions(seed=v).validate(),
    }[key]
    try:
        probe(value)
    except CharLMError as e:  # "--top-p must be in (0, 1], not 2": the field says which
        message = str(e)
        return message[message.index("must") :] if "must" in message else message
    return None


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
        values = {
            "temperature": self.initial.params.temperature,
            "top_k": self.initial.params.top_k,
            "top_p": self.initial.params.top_p,
            "max_new": self.initial.max_new,
            "seed": self.initial.seed,
        }
        for key, title, _ in FIELDS:
            with Vertical():
                field = OrderedInput(str(values[key]), id=key, tooltip=title)
                field.border_title = title
                yield field
                yield Label("", id=f"{key}-error", classes="field-error")

    def errors(self) -> dict[str, str]:
        """{field: what is wrong} for every invalid field, shown next to each."""
        found = {}
        for key, _, kind in FIELDS:
            value = parse_number(self.query_one(f"#{key}", Input).value, kind)
            problem = value if isinstance(value, str) else _problem(key, value)
            if problem:
                found[key] = problem
            self.query_one(f"#{key}", Input).set_class(bool(problem), "-invalid")
            label = self.query_one(f"#{key}-error", Label)
            label.update(problem or "")
            label.set_class(bool(problem), "-shown")
        return found

    def options(self, prompt: str, precision: str) -> GenerateOptions | None:
        """The settings as typed, or None (each invalid field says why)."""
        if self.errors():
            return None
        v = {k: parse_number(self.query_one(f"#{k}", Input).value, kind) for k, _, kind in FIELDS}
        params = SamplingParams(v["temperature"], v["top_k"], v["top_p"])  # type: ignore[arg-type]
        return replace(
            self.initial, prompt=prompt, params=params, max_new=v["max_new"], seed=v["seed"],
            precision=precision,
        )  # type: ignore[arg-type]  # fmt: skip

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
