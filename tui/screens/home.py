"""Home: the runs under checkpoints/, and what to do with them: open, resume, generate,
inspect, compare; rename, tag and annotate, delete (core/runs/manage.py, in a worker:
a failure is a notification, never a crash)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import ColumnKey

from charlm_tui.core.config import RunLength
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.labels import LABELS, Labels, write_labels
from charlm_tui.core.runs.listing import RunViews
from charlm_tui.core.runs.manage import check_managed, delete_run, is_rung, rename_run
from charlm_tui.core.runs.provenance import describe, read_provenance
from charlm_tui.core.runs.rundir import RunLock
from charlm_tui.core.runs.view import RunView, config_differs
from charlm_tui.tui.formatting import cut_end, describe_status, shorten_middle, status_word, visible
from charlm_tui.tui.messages import (
    OpenCompare,
    OpenGenerate,
    OpenInspect,
    OpenNewRunForm,
    OpenRun,
    ResumeRun,
)
from charlm_tui.tui.screens.dialogs import ChoiceScreen, LabelsScreen, RenameScreen
from charlm_tui.tui.tables import RIGHT, model_label, runs_table, val_cell
from charlm_tui.tui.widgets.bars import KeysFooter


class HomeScreen(Screen[None]):
    # No back from here (esc does nothing); the way out first: a narrow footer cuts
    # keys from the right.
    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("enter", "open", "Open", show=True),
        Binding("n", "new", "New run"),
        Binding("N", "new_from", "New from run", show=False),
        Binding("P", "provenance", "Ran with", show=False),
        Binding("r", "resume", "Resume"),
        Binding("g", "generate", "Generate"),
        Binding("i", "inspect", "Inspect"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("t", "labels", "Tags/notes"),
        Binding("R,f2", "rename", "Rename"),  # capital R: r resumes
        Binding("d,delete", "delete", "Delete"),
        Binding("f5", "reload", "Refresh", show=False),  # it reloads every 2 s anyway
    ]

    def __init__(self, runs_dir: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.clock = clock
        self.views = RunViews()  # read on from where the last listing stopped
        self.runs: list[RunView] = []
        self.columns: tuple[str, ...] = ()
        self.marked: set[Path] = set()  # runs to compare (space), in no order
        self.wanted: Path | None = None  # a run to select once it is listed (select_run)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="home-title", markup=False)
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="home-empty", markup=False)
        yield Static(id="home-detail", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "charlm-tui"
        self.sub_title = "runs"
        self.action_reload()
        self.set_interval(2.0, self.poll)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def select_run(self, run_dir: Path) -> None:
        """Select run_dir at the next listing that holds it: the run a screen above
        showed (a training started from here, a run opened) is the one r, g, i act on."""
        self.wanted = run_dir

    def poll(self) -> None:
        # Under a dashboard, rebuilding this table cost the training child ~5% of its
        # steps on 2 cores (bench/tui_overhead.py); on_screen_resume catches up.
        if self.is_active:  # not is_current: that counts the screen just below the top
            self.action_reload()

    def on_resize(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        try:
            runs = self.views.list(self.runs_dir) if self.runs_dir.exists() else []
        except CharLMError as e:
            self.notify(str(e), severity="error")
            runs = []
        table = self.query_one(DataTable)
        selected = self.wanted or (view.path if (view := self.selected) else None)
        width = table.size.width or self.size.width or self.app.size.width
        scrollbar = 2 if len(runs) >= table.size.height else 0
        columns, rows = runs_table(runs, self.clock(), width - scrollbar)
        table.clear(columns=columns != self.columns)
        if columns != self.columns:
            self.columns = columns
            for col in columns:
                table.add_column(Text(col, justify="right" if col in RIGHT else "left"), key=col)
        self.runs = runs
        for info, row in zip(runs, rows, strict=True):
            # Text, not str: DataTable reads a str cell as markup ("[/]" in a name).
            table.add_row(
                *(Text(row[c], justify="right" if c in RIGHT else "left") for c in columns),
                key=str(info.path),
                label="●" if info.path in self.marked else None,
            )
        # clear() keeps the widths the rows gone needed: cut narrower for a narrower
        # terminal, these rows need less.
        for col in columns:
            table.columns[ColumnKey(col)].content_width = max(
                [cell_len(col), *(cell_len(r[col]) for r in rows)]  # no runs: the title's
            )
        for i, info in enumerate(runs):
            if info.path == selected:
                table.move_cursor(row=i)
                self.wanted = None
        where = visible(str(self.runs_dir))
        title = Text.assemble(
            (f"{len(runs)} run(s)", "bold"), f" in {where}/ · Enter opens · n starts a new one"
        )
        if any(v.best_val is not None and v.best_val.estimated for v in runs):
            title.append(" · ~ best val: an estimate on eval batches", style="dim")
        self.query_one("#home-title", Static).update(title)
        empty = self.query_one("#home-empty", Static)
        empty.display = not runs
        empty.update(
            Text.assemble(
                f"No runs in {where}/ yet.\n\nPress ",
                ("n", "bold"),
                " to train a model: the ",
                ("tiny", "bold"),
                " preset learns in seconds, ",
                ("cpu", "bold"),
                " writes passable verse in five minutes.",
            )
        )
        self.show_detail()

    def show_detail(self) -> None:
        detail = self.query_one("#home-detail", Static)
        view = self.selected
        detail.display = view is not None
        # One height while a listing has labels: the table does not jump as the cursor moves.
        labelled = any(v.labels for v in self.runs)
        detail.set_class(labelled, "-labels")
        if view is not None:
            width = max(detail.size.width - 2, 20)  # - padding
            text = detail_text(view, width)
            if labelled:
                text.append("\n").append_text(labels_line(view, width))
            detail.update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    @property
    def selected(self) -> RunView | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row is None or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        if (info := self.selected) is not None:
            self.post_message(OpenRun(info.path))

    def action_new(self) -> None:
        self.post_message(OpenNewRunForm())

    def action_provenance(self) -> None:
        """What the selected run ran on (provenance.json), in a notification."""
        if (info := self.selected) is None:
            return
        sessions = read_provenance(info.path)
        if not sessions:
            self.notify(f"{visible(info.label)}: no provenance.json (a run from before it was)")
            return
        last = sessions[-1]
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(last.get("started", 0)))
        text = (
            f"{info.label}: {describe(last)}\n"
            f"{last.get('command', '')}\nstarted {started}; {len(sessions)} session(s)"
        )
        self.notify(visible(text), title="ran with", timeout=15, markup=False)

    def action_new_from(self) -> None:
        """The new-run form with the selected run's options."""
        if (info := self.selected) is not None:
            self.post_message(OpenNewRunForm(info.path))

    def action_resume(self) -> None:
        if (info := self.selected) is None:
            return
        if (asked := extend_question(info)) is None:
            self.post_message(ResumeRun(info.path))
            return
        question, longer = asked

        def answered(choice: str | None) -> None:
            if choice == "extend":
                self.post_message(ResumeRun(info.path, longer))

        choices = [("extend", "Extend"), ("cancel", "Cancel")]
        self.app.push_screen(ChoiceScreen(question, choices), answered)

    def action_generate(self) -> None:
        if (info := self.selected) is None:
            return
        if not info.checkpoint_files:
            self.notify(f"{info.label} has no checkpoint yet", severity="warning")
            return
        self.post_message(OpenGenerate(info.path / info.checkpoint_files[0]))

    def action_inspect(self) -> None:
        """Score the first characters of the run's validation split with its checkpoint."""
        if (info := self.selected) is None:
            return
        if not info.checkpoint_files:
            self.notify(f"{info.label} has no checkpoint yet", severity="warning")
            return
        self.post_message(OpenInspect(info.path / info.checkpoint_files[0]))

    def action_mark(self) -> None:
        if (info := self.selected) is None:
            return
        self.marked ^= {info.path}
        row = self.query_one(DataTable).cursor_row
        self.action_reload()
        self.query_one(DataTable).move_cursor(row=min(row + 1, len(self.runs) - 1))

    def action_compare(self) -> None:
        """The marked runs; with none marked, the ladder of the selected run."""
        runs = [i.path for i in self.runs if i.path in self.marked]
        if not runs and (info := self.selected) is not None and info.group:
            runs = [i.path for i in self.runs if i.group == info.group]
        if not runs:
            self.notify("mark runs with space, then press c", severity="warning", timeout=4)
            return
        self.post_message(OpenCompare(runs))

    # -- managing the selected run ---------------------------------------------------------

    def refusal(self, view: RunView) -> str | None:
        """Why the run may be neither renamed nor deleted now (the same checks are made
        again, under its lock, when it is done)."""
        try:
            check_managed(view.path)
        except CharLMError as e:
            return str(e)
        if RunLock.held(view.path):
            return f"{view.label} is training: stop it first, then try again"
        return None

    def action_rename(self) -> None:
        if (info := self.selected) is None:
            return
        if is_rung(info.path):
            self.notify(
                f"{info.label} is a ladder's rung: a rung keeps its name (ladder.json lists it)",
                severity="warning",
            )
            return
        if (why := self.refusal(info)) is not None:
            self.notify(why, severity="warning")
            return

        def answered(name: str | None) -> None:
            if name is None:
                return

            def renamed(new: Path) -> str:  # the run keeps its mark and the cursor
                if info.path in self.marked:
                    self.marked ^= {info.path, new}
                self.select_run(new)
                return f"renamed {info.label} to {new.name}"

            self.in_background(f"rename {info.label}", partial(rename_run, info.path, name),
                               renamed)  # fmt: skip

        self.app.push_screen(RenameScreen(info.path), answered)

    def action_delete(self) -> None:
        if (info := self.selected) is None:
            return
        if (why := self.refusal(info)) is not None:
            self.notify(why, severity="warning")
            return
        question = (
            f"Delete the run {visible(info.label)}? Its folder {visible(str(info.path))} and "
            "every file in it (checkpoints, records, samples) go for good."
        )

        # The cursor stays where it was: on the run below (the one above, for the last).
        at = self.runs.index(info)
        others = self.runs[at + 1 :] + self.runs[:at][::-1]

        def deleted(_: None) -> str:
            self.marked.discard(info.path)
            if others:
                self.select_run(others[0].path)
            return f"deleted {info.label}"

        def answered(choice: str | None) -> None:
            if choice == "delete":
                self.in_background(f"delete {info.label}", partial(delete_run, info.path), deleted)

        # Cancel comes last: it has the focus, so Enter alone deletes nothing.
        choices = [("delete", "Delete"), ("cancel", "Cancel")]
        self.app.push_screen(ChoiceScreen(question, choices), answered)

    def action_labels(self) -> None:
        if (info := self.selected) is None:
            return
        unreadable = not info.labels and (info.path / LABELS).exists()

        def answered(labels: Labels | None) -> None:
            if labels is not None:
                self.in_background(
                    f"save the tags and notes of {info.label}",
                    partial(write_labels, info.path, labels),
                    lambda _: f"saved the tags and notes of {info.label}",
                )

        self.app.push_screen(LabelsScreen(info.label, info.labels, unreadable), answered)

    def in_background(self, what: str, job: Callable[[], Any], then: Callable[[Any], str]) -> None:
        """Change the filesystem in a thread (a delete of big checkpoints takes a while);
        then, on the UI thread, `then(result)` says what was done, or the error is said,
        and the runs are listed again. Nothing that goes wrong here ends the app."""

        def work() -> None:
            try:
                result = job()
            except CharLMError as e:
                error = str(e)
            except Exception as e:  # an OSError nobody foresaw: said, never a crash
                error = f"{type(e).__name__}: {e}"
            else:
                self.app.call_from_thread(self.succeeded, then, result)
                return
            self.app.call_from_thread(self.failed, what, error)

        self.run_worker(work, name=what, group="manage", thread=True, exit_on_error=False)

    def succeeded(self, then: Callable[[Any], str], result: Any) -> None:
        self.notify(then(result), timeout=4)
        self.action_reload()

    def failed(self, what: str, error: str) -> None:
        self.notify(error, title=f"cannot {what}", severity="error", timeout=10)
        self.action_reload()


def extend_question(view: RunView) -> tuple[str, dict[str, Any]] | None:
    """For a run that finished its length (nothing is left to train): the question that
    offers to train as long again, and the options of that resume; None for another."""
    length = view.length
    if view.status != "finished" or length is None:
        return None
    longer = length.doubled()
    described = length_of.describe() if (length_of := RunLength.of(longer)) else "?"
    question = (
        f"{visible(view.label)} finished its {length.describe()}: nothing is left to train. "
        f"Extend it to {described}? (While a run trains, ] on its dashboard extends it too.)"
    )
    return question, longer


def detail_text(view: RunView, width: int) -> Text:
    """The selected run in two lines: what its status means; its folder, model, what
    its best val is, and its corpus (whole when they fit, else the corpus gives way
    first, then the folder: the table may have shortened them)."""
    word = status_word(view.status)
    meaning = describe_status(word) + (f" ({visible(view.error)})" if view.error else "")
    if config_differs(view):  # what the table marks, said in full
        meaning += f" ({visible(config_differs(view))})"
    path, model, corpus = (
        visible(str(view.path)),
        visible(model_label(view)),
        visible(view.corpus),
    )
    where = f"{path} · {model} · corpus {corpus}"
    if cell_len(where) > width:  # the corpus gives way first, then the folder
        room = width - cell_len(where) + cell_len(corpus)
        where = f"{path} · {model} · corpus {shorten_middle(corpus, room)}"
    best = view.best_val
    about = f" · best val {val_cell(best, best.loss)} on {best.describe()}" if best else ""
    if cell_len(where + about) <= width:
        where += about
    text = Text.assemble((word, "bold"), cut_end(f": {meaning}", width - cell_len(word)))
    text.append("\n" + shorten_middle(where, width), "dim")
    return text


def labels_line(view: RunView, width: int) -> Text:
    """The run's tags and the start of its notes, in one line of `width` cells."""
    labels = view.labels
    if not labels:
        return Text(cut_end("no tags or notes: t adds them", width), "dim")
    tags = " ".join(f"#{t}" for t in labels.tags)
    notes = " ↵ ".join(line.strip() for line in labels.notes.splitlines() if line.strip())
    line = visible(" · ".join(part for part in (tags, notes) if part))
    return Text(cut_end(line, width))
