"""Small modal dialogs: a question with a few answers, a run's new name, its tags and
notes. The fields are checked as they are typed, by the rules of the CLI's flags."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.labels import MAX_TAGS, Labels, notes_problem, tag_problem
from charlm_tui.core.training.plan import check_run_name
from charlm_tui.tui.formatting import visible
from charlm_tui.tui.widgets.bars import KeysFooter
from charlm_tui.tui.widgets.inputs import OrderedInput


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


def rename_problem(run_dir: Path, name: str) -> str | None:
    """What is wrong with a new name for the run (the rule of `--name`), or None."""
    try:
        name = check_run_name(name, "the name")
    except CharLMError as e:
        return str(e).removeprefix("the name ")
    if name == run_dir.name:
        return "that is its name now"
    if os.path.lexists(run_dir.parent / name):
        return "that name is taken"
    return None


class RenameScreen(ModalScreen[str | None]):
    """A run's new name, checked as it is typed; dismisses with the name (Esc: None)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="rename"):
            yield Label(Text.assemble(("Rename ", "bold"), visible(self.run_dir.name)))
            with Horizontal(classes="field"):
                yield Label("new name", classes="field-label")
                yield OrderedInput(self.run_dir.name, id="new-name", compact=True)
            yield Label("", id="new-name-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Rename", id="rename-run", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.validate()

    def validate(self) -> str | None:
        """The name typed, stripped, when it may be used; else None (and why, shown)."""
        typed = self.query_one(Input).value
        problem = rename_problem(self.run_dir, typed)
        show_problem(self.query_one("#new-name-error", Label), problem)
        self.query_one("#rename-run", Button).disabled = problem is not None
        return typed.strip() if problem is None else None

    @on(Input.Changed)
    def changed(self) -> None:
        self.validate()

    @on(Input.Submitted)
    def submitted(self) -> None:
        if (name := self.validate()) is not None:
            self.dismiss(name)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "rename-run":
            self.submitted()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_tags(text: str) -> tuple[tuple[str, ...], str | None]:
    """Tags typed in one field, separated by spaces or commas -> (tags, what is wrong)."""
    tags = tuple(dict.fromkeys(t for t in re.split(r"[\s,]+", text) if t))
    if len(tags) > MAX_TAGS:
        return tags, f"at most {MAX_TAGS} tags, not {len(tags)}"
    for tag in tags:
        if (problem := tag_problem(tag)) is not None:
            return tags, problem
    return tags, None


class LabelsScreen(ModalScreen[Labels | None]):
    """A run's tags and notes, checked as they are typed by the rules of `--tag` and
    `--notes`; dismisses with the labels to save (Esc: None)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(self, name: str, labels: Labels, unreadable: bool = False) -> None:
        super().__init__()
        self.run_name = name
        self.labels = labels
        self.unreadable = unreadable  # its labels.json is there but was refused on read

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="labels"):
            yield Label(Text.assemble(("Tags and notes of ", "bold"), visible(self.run_name)))
            if self.unreadable:
                yield Label(Text("its labels.json could not be read: saving replaces it", "yellow"))
            with Horizontal(classes="field"):
                yield Label("tags", classes="field-label")
                yield OrderedInput(
                    " ".join(self.labels.tags),
                    placeholder="words, separated by spaces",
                    id="tags",
                    compact=True,
                )
            yield Label("", id="tags-error", classes="field-error")
            yield Label("notes", classes="field-label notes-label")
            yield TextArea(self.labels.notes, id="notes", soft_wrap=True, compact=True)
            yield Label("", id="notes-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#tags", Input).focus()
        self.validate()

    def validate(self) -> Labels | None:
        tags, tag_error = parse_tags(self.query_one("#tags", Input).value)
        notes = self.query_one("#notes", TextArea).text
        notes_error = notes_problem(notes.strip())
        show_problem(self.query_one("#tags-error", Label), tag_error)
        show_problem(self.query_one("#notes-error", Label), notes_error)
        ok = tag_error is None and notes_error is None
        self.query_one("#save", Button).disabled = not ok
        return Labels(tags, notes.strip()) if ok else None

    @on(Input.Changed)
    @on(TextArea.Changed)
    def changed(self) -> None:
        self.validate()

    @on(Input.Submitted)
    def action_save(self) -> None:
        if (labels := self.validate()) is not None:
            self.dismiss(labels)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def show_problem(label: Label, problem: str | None) -> None:
    # Text, not markup: a problem may quote what was typed ("[b]" in a name).
    label.update(Text(f"↳ {visible(problem)}", "red") if problem else "")
    label.set_class(problem is not None, "visible")
