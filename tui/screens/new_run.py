"""A small form to start a run: its rows are the options declared with a form label
(core/config.py `form_specs`), plus the run's name.

Every field is checked as it is typed, by the same rules as the CLI; each invalid field
says what is wrong next to it, all at once, and nothing starts while any is invalid.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from charlm_tui.core.config import form_specs, merge, preset_values, shape_label
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import Spec
from charlm_tui.core.runs.rundir import is_run_dir
from charlm_tui.core.text.corpora import BUILTINS
from charlm_tui.core.training.plan import RunPlan, check_run_name, plan_new
from charlm_tui.tui.formatting import visible
from charlm_tui.tui.forms import parse_number
from charlm_tui.tui.widgets.bars import KeysFooter
from charlm_tui.tui.widgets.inputs import OrderedInput


def parse_form(
    values: dict[str, Any], runs_dir: Path, base: dict[str, Any] | None = None
) -> tuple[RunPlan | None, dict[str, str], str]:
    """The form's fields -> (plan, {field: what is wrong}, an error about the whole run).

    A field left empty takes the preset's value, or base's: the options of the run the
    form starts from."""
    errors: dict[str, str] = {}
    given: dict[str, Any] = {}
    for spec in form_specs():
        raw = values.get(spec.name)
        value = parse_field(spec, raw)
        if isinstance(value, Problem):
            errors[spec.name] = value.text
        elif value is not None:
            given[spec.name] = value
    data = given.get("data", "shakespeare")
    if "data" not in errors and data not in BUILTINS and not Path(data).expanduser().exists():
        errors["data"] = "no such file or folder (built-ins: " + ", ".join(BUILTINS) + ")"
    name = str(values.get("name") or "").strip() or None
    if name is not None:
        try:
            check_run_name(name, "the name")
        except CharLMError as e:
            errors["name"] = str(e).removeprefix("the name ")
        else:
            if is_run_dir(runs_dir / name):  # plan_new's error names CLI flags: say it here
                errors["name"] = (
                    "a run of that name exists: choose another name, or resume it from home (r)"
                )
    if errors:
        return None, errors, ""
    if base is not None:
        given = merge(base, given)  # a length in the form replaces the run's other one
    preset = given.pop("preset", None)
    try:
        return plan_new(preset, given, name=name, runs_dir=runs_dir), {}, ""
    except CharLMError as e:
        return None, {}, str(e)


class Problem:
    def __init__(self, text: str) -> None:
        self.text = text


def parse_field(spec: Spec, raw: Any) -> Any:
    """A form value -> the typed value, None (empty: the preset's), or a Problem."""
    if raw is None or raw == Select.NULL or (isinstance(raw, str) and not raw.strip()):
        return None
    if spec.base in (int, float):
        value = parse_number(str(raw), spec.base)
        if isinstance(value, str):
            return Problem(value)
    else:
        value = str(raw).strip()
    problem = spec.problem(value)
    return Problem(problem) if problem else value


SHORT_FORM_ROWS = 32


class NewRunScreen(ModalScreen[RunPlan | None]):
    # q types a q here: ctrl+q quits (the app binds it; shown here, where fields take q).
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(
        self, runs_dir: Path, base: dict[str, Any] | None = None, from_run: Path | None = None
    ) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.base = base  # the options of the run it starts from (None: the presets)
        self.from_run = from_run

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-run"):
            if self.base is not None and self.from_run is not None:
                yield Label(
                    Text.assemble(("New run", "bold"), " from ", visible(self.from_run.name),
                                  "  (Esc cancels)")
                )  # fmt: skip
            else:
                yield Label("[b]New run[/b]  (Esc cancels)")
            for spec in form_specs():
                with Horizontal(classes="field"):
                    yield Label(spec.form or spec.name, classes="field-label")
                    if spec.choices is not None:
                        yield Select(
                            [(c, c) for c in spec.choices],
                            value=self._first_value(spec),
                            allow_blank=spec.name != "preset",
                            prompt="run's" if self.base is not None else "preset's",
                            id=spec.name,
                            compact=True,
                            # From a run, every option is the run's: a preset would only
                            # rename it.
                            disabled=self.base is not None and spec.name == "preset",
                        )
                    else:
                        yield OrderedInput(
                            str(self._first_value(spec)) if spec.name == "data" else "",
                            placeholder="preset's value",
                            id=spec.name,
                            compact=True,
                        )
                yield Label("", id=f"{spec.name}-error", classes="field-error")
            with Horizontal(classes="field"):
                yield Label("run name", classes="field-label")
                yield OrderedInput(
                    placeholder="optional: <preset>-<model>-<time>", id="name", compact=True
                )
            yield Label("", id="name-error", classes="field-error")
            yield Label("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="success", id="start", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield KeysFooter()

    def _first_value(self, spec: Spec) -> Any:
        """What a field shows at first: the corpus and the preset, the run's or ours."""
        if spec.name == "data":
            return (self.base or {}).get("data", "shakespeare")
        if spec.name == "preset":
            return (self.base or {}).get("preset") or "tiny"
        return Select.NULL

    def on_mount(self) -> None:
        self.query_one("#data", Input).focus()
        self.validate()

    def on_resize(self, event: Resize) -> None:
        # A short terminal: fields without the blank row between them, so the whole
        # form and its borders fit (tui/charlm.tcss).
        self.set_class(event.size.height < SHORT_FORM_ROWS, "-short")

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {i.id: i.value for i in self.query(Input) if i.id}
        out.update({s.id: s.value for s in self.query(Select) if s.id})
        return out

    def validate(self) -> RunPlan | None:
        plan, errors, general = parse_form(self.values(), self.runs_dir, self.base)
        for name in [*(s.name for s in form_specs()), "name"]:
            label = self.query_one(f"#{name}-error", Label)
            # Text, not markup: errors may quote what was typed ("[b]" in a name).
            label.update(Text(f"↳ {visible(errors[name])}", "red") if name in errors else "")
            label.set_class(name in errors, "visible")
        self._placeholders()
        summary = self.query_one("#form-error", Label)
        if plan is None:
            summary.update(Text(visible(general) or "fix the fields marked above", "red"))
        else:
            m, t = plan.mcfg, plan.tcfg
            named = self.query_one("#name", Input).value.strip()
            where = plan.run_dir if named else f"{self.runs_dir}/<preset>-<model>-<time>"
            summary.update(
                Text.assemble(
                    ("ok", "green"), visible(f": {shape_label(asdict(m))}, {t.length.describe()}"),
                    visible(f" → {where}"),
                )
            )  # fmt: skip
        self.query_one("#start", Button).disabled = plan is None
        return plan

    def _placeholders(self) -> None:
        """Empty fields show the chosen preset's value, or the run's."""
        preset = self.query_one("#preset", Select).value
        try:
            values = self.base or preset_values(str(preset))
        except CharLMError:
            return
        source = "run" if self.base is not None else "preset"
        for spec in form_specs():
            widget = self.query_one(f"#{spec.name}")
            if isinstance(widget, Input) and spec.name != "data":
                value = values.get(spec.name)
                widget.placeholder = (
                    f"{source}: {value:g}"
                    if isinstance(value, float)
                    else (f"{source}: {value}" if value is not None else f"{source}: -")
                )

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
        plan = self.validate()
        if plan is not None:
            self.dismiss(plan)

    def action_cancel(self) -> None:
        self.dismiss(None)
