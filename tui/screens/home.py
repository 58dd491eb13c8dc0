"""Home: the runs under checkpoints/, and what to do with them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.control import read_control
from core.errors import CharLMError
from core.runs import RunInfo, list_runs
from tui.formatting import fmt_age
from tui.messages import OpenCompare, OpenGenerate, OpenNewRunForm, OpenRun, ResumeRun

COLUMNS = ("run", "model", "params", "iter", "best val", "corpus", "status", "age")


class HomeScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("n", "new", "New run"),
        Binding("r", "resume", "Resume"),
        Binding("g", "generate", "Generate"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("f5", "reload", "Refresh"),
        Binding("escape", "app.quit", "Quit", show=False),
    ]

    def __init__(self, runs_dir: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.clock = clock
        self.runs: list[RunInfo] = []
        self.marked: set[Path] = set()  # runs to compare (space), in no order

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="home-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="home-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "charlm-tui"
        self.sub_title = "runs"
        table = self.query_one(DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)
        self.action_reload()
        self.set_interval(2.0, self.action_reload)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        try:
            runs = list_runs(self.runs_dir) if self.runs_dir.exists() else []
        except CharLMError as e:
            self.notify(str(e), severity="error")
            runs = []
        table = self.query_one(DataTable)
        selected = self.selected
        table.clear()
        self.runs = runs
        now = self.clock()
        for info in runs:
            status = info.status
            if status == "running" and read_control(info.path)["paused"]:
                status = "paused"
            table.add_row(
                info.label,
                info.model,
                f"{info.n_params:,}" if info.n_params else "–",
                f"{info.iter:,}" if info.iter is not None else "–",
                f"{info.best_val_loss:.4f}" if info.best_val_loss is not None else "–",
                info.corpus,
                status,
                fmt_age(max(0.0, now - info.modified)),
                key=str(info.path),
                label="●" if info.path in self.marked else None,
            )
        if selected is not None:
            for i, info in enumerate(runs):
                if info.path == selected.path:
                    table.move_cursor(row=i)
        self.query_one("#home-title", Static).update(
            f"[b]{len(runs)} run(s)[/b] in {self.runs_dir}/ · Enter opens · n starts a new one"
        )
        empty = self.query_one("#home-empty", Static)
        empty.display = not runs
        empty.update(
            f"No runs in {self.runs_dir}/ yet.\n\nPress [b]n[/b] to train a model: the [b]tiny[/b] "
            "preset learns in seconds, [b]cpu[/b] writes passable verse in five minutes."
        )

    @property
    def selected(self) -> RunInfo | None:
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

    def action_resume(self) -> None:
        if (info := self.selected) is not None:
            self.post_message(ResumeRun(info.path))

    def action_generate(self) -> None:
        if (info := self.selected) is None:
            return
        if not info.checkpoints:
            self.notify(f"{info.path.name} has no checkpoint yet", severity="warning")
            return
        self.post_message(OpenGenerate(info.path / info.checkpoints[0]))

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
