"""A small form to start a run: corpus, preset and the hyperparameters people change most.

Every field is validated as it is typed, with the same checks as the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from core.config import PRESETS, ModelConfig, TrainConfig, build_configs
from core.corpora import BUILTINS
from core.errors import CharLMError

FIELDS: list[tuple[str, str, type]] = [
    ("max_iters", "max iters", int),
    ("time_budget", "or seconds", float),
    ("lr", "learning rate", float),
    ("batch_size", "batch size", int),
]


@dataclass
class NewRun:
    mcfg: ModelConfig
    tcfg: TrainConfig
    name: str | None


def parse_form(values: dict[str, str], preset: str) -> NewRun:
    """The form's text fields -> validated configs, or CharLMError naming the field."""
    overrides: dict[str, Any] = {"data": values.get("data", "").strip() or "shakespeare"}
    for key, label, kind in FIELDS:
        raw = values.get(key, "").strip()
        if raw:
            try:
                overrides[key] = kind(raw)
            except ValueError:
                raise CharLMError(f"{label} must be a number, not {raw!r}") from None
    data = overrides["data"]
    if data not in BUILTINS and not Path(data).expanduser().exists():
        raise CharLMError(f"no such file or folder: {data!r} (built-ins: {', '.join(BUILTINS)})")
    name = values.get("name", "").strip() or None
    if name is not None and ("/" in name or name in (".", "..")):
        raise CharLMError(f"the run name must be a plain folder name, not {name!r}")
    mcfg, tcfg = build_configs(preset, overrides)
    return NewRun(mcfg, tcfg, name)


class NewRunScreen(ModalScreen[NewRun | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-run"):
            yield Label("[b]New run[/b]  (Esc cancels)")
            with Horizontal(classes="field"):
                yield Label("corpus", classes="field-label")
                yield Input(
                    "shakespeare",
                    placeholder="file, folder, shakespeare or python",
                    id="data",
                    compact=True,
                )
            with Horizontal(classes="field"):
                yield Label("preset", classes="field-label")
                yield Select(
                    [(p, p) for p in PRESETS],
                    value="tiny",
                    allow_blank=False,
                    id="preset",
                    compact=True,
                )
            for key, label, _ in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    yield Input(placeholder="preset's value", id=key, compact=True)
            with Horizontal(classes="field"):
                yield Label("run name", classes="field-label")
                yield Input(
                    placeholder="optional: <preset>-<model>-<time>", id="name", compact=True
                )
            yield Label("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="success", id="start", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#data", Input).focus()
        self.validate()

    def values(self) -> dict[str, str]:
        return {i.id: i.value for i in self.query(Input) if i.id}

    def validate(self) -> NewRun | None:
        error = self.query_one("#form-error", Label)
        try:
            result = parse_form(self.values(), str(self.query_one(Select).value))
        except CharLMError as e:
            error.update(f"[red]{e}[/red]")
            self.query_one("#start", Button).disabled = True
            return None
        t = result.tcfg
        length = f"{t.max_iters} iters" if t.max_iters else f"{t.time_budget:g}s"
        m = result.mcfg
        shape = f"{m.n_layer}×{m.n_head}×{m.n_embd}" if m.model == "gpt" else "bigram"
        error.update(f"[green]ok[/green]: {m.model} {shape}, block {m.block_size}, {length}")
        self.query_one("#start", Button).disabled = False
        return result

    @on(Input.Changed)
    @on(Select.Changed)
    def changed(self) -> None:
        self.validate()

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.start()
        else:
            self.dismiss(None)

    def start(self) -> None:
        result = self.validate()
        if result is not None:
            self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)
