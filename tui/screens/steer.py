"""Steering a run from a screen: the keys (`SteeringKeys`, the dashboard's base), and a
small dialog that asks for new values of steerable options (`e` and `m`), each field
labelled and checked as it is typed by the declaration of `steer`'s option
(core/runs/control.py `SteerRequest`, whose rules are the training options')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label

from charlm_tui.core.config import SPECS
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import specs
from charlm_tui.core.runs.control import (
    SteerRequest,
    request,
    steer_run,
    steered_now,
    write_control,
)
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.formatting import visible
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

    def __init__(self, title: str, values: dict[str, Any]) -> None:
        super().__init__()
        self.heading, self.values = title, values
        self.specs = specs(SteerRequest)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"[b]{self.heading}[/b]  (from the next step; Esc cancels)")
            for name, value in self.values.items():
                with Horizontal(classes="field"):
                    yield Label(self.specs[name].form or name, classes="steer-label")
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
            spec = self.specs[name]
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


class SteeringKeys(Screen[None]):
    """The keys that steer a run a process trains now (the dashboard's): pause, stop,
    save, sample, the learning rate, the run's length, and the eval and sample
    intervals through the dialog above. Each writes control.json (core/runs/control.py:
    the checks `charlm-tui steer` makes); hidden while nothing trains in the run."""

    STEERING = (
        "pause", "unpause", "stop", "checkpoint", "sample", "lr", "steer_evals",
        "steer_samples", "extend",
    )  # fmt: skip
    run_dir: Path
    view: RunView
    live: bool
    paused: bool  # as the run's files say (a reactive with bindings=True in the subclass)

    def refresh_view(self) -> None:
        """Redraw after a request (the subclass's)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.STEERING and not self.live:
            return False  # hidden when no process trains here
        if action in ("pause", "unpause"):  # one key, p: the footer names what it does now
            return self.paused == (action == "unpause")
        return True

    def asked(self, what: str | None = None, **changes: Any) -> bool:
        """Write a request into control.json (`what`: one more save or sample); a run
        folder that cannot be written is said here, and False."""
        try:
            if what is not None:
                request(self.run_dir, what)
            else:
                write_control(self.run_dir, **changes)
        except (CharLMError, OSError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.notify(visible(f"cannot ask {self.run_dir}: {reason}"), severity="error")
            return False
        return True

    def action_pause(self) -> None:
        if self.asked(paused=True):
            self.notify("paused", timeout=2)
            self.paused = True  # the footer says "p Resume" before the trainer notices
            self.refresh_view()

    def action_unpause(self) -> None:
        if self.asked(paused=False):
            self.notify("resumed", timeout=2)
            self.paused = False
            self.refresh_view()

    def action_stop(self) -> None:
        if self.asked(stop=True):
            self.notify("stopping: saving last.pt…", timeout=3)

    def action_checkpoint(self) -> None:
        if self.asked("save"):
            self.notify("saving last.pt…", timeout=2)

    def action_sample(self) -> None:
        if self.asked("sample"):
            self.notify("sampling…", timeout=2)

    def steer(self, **asked: Any) -> None:
        """Ask the trainer for new values (core/runs/control.py: the same checks as `steer`)."""
        try:
            changes = steer_run(self.run_dir, **asked)
        except CharLMError as e:
            self.notify(visible(str(e)), severity="error", timeout=6)
            return
        if changes:
            told = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in changes.items())
            self.notify(f"{told}: from the next step", timeout=3)

    def action_lr(self, factor: float) -> None:
        self.steer(lr_factor=factor)

    def action_extend(self, percent: float) -> None:
        self.steer(extend_percent=percent)

    def action_steer_evals(self) -> None:
        self._ask("Evaluate every…", ("eval_interval",))

    def action_steer_samples(self) -> None:
        self._ask("Samples", ("sample_interval", "sample_temperature"))

    def _ask(self, title: str, names: tuple[str, ...]) -> None:
        """A dialog for some steerable options, filled with the values in force."""
        now = steered_now(self.run_dir)

        def answered(values: dict[str, Any] | None) -> None:
            if values:
                self.steer(**values)

        values = {n: now.get(n, SPECS[n].default) for n in names}
        self.app.push_screen(SteerScreen(title, values), answered)
