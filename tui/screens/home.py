"""Home: the runs under checkpoints/, and what to do with them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.listing import RunInfo, list_runs
from charlm_tui.tui.formatting import (
    cut_end,
    describe_status,
    fit_rows,
    fmt_age,
    run_status,
    shorten_middle,
    visible,
)
from charlm_tui.tui.messages import (
    OpenCompare,
    OpenGenerate,
    OpenInspect,
    OpenNewRunForm,
    OpenRun,
    ResumeRun,
)

COLUMNS = ("run", "model", "params", "iter", "best val", "corpus", "status", "age")
# Below NARROW_COLUMNS cells the model and its size leave the table (the line under it
# names the selected run's model): the status and age stay in view.
NARROW_COLUMNS = 100
NARROW = ("run", "iter", "best val", "corpus", "status", "age")
# When the table is too wide, these give up cells, in this order, down to a minimum:
# paths are cut in the middle (their start and the file name stay), the model's shape
# at its end; the numbers, status and age are never cut.
SHRINK = (("corpus", 12), ("run", 12), ("model", 10), ("corpus", 7), ("run", 7))


def run_row(info: RunInfo, now: float) -> dict[str, str]:
    """A run's cells as plain text (escaped: names and corpora come from folders)."""
    return {
        "run": visible(info.path.name),
        "model": visible(info.model),
        "params": f"{info.n_params:,}" if info.n_params else "–",
        "iter": f"{info.iter:,}" if info.iter is not None else "–",
        "best val": f"{info.best_val_loss:.4f}" if info.best_val_loss is not None else "–",
        "corpus": visible(info.corpus),
        "status": run_status(info),
        "age": fmt_age(max(0.0, now - info.modified)),
    }


class HomeScreen(Screen[None]):
    # No back from here (esc does nothing); the way out first: a narrow footer cuts
    # keys from the right.
    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("enter", "open", "Open", show=True),
        Binding("n", "new", "New run"),
        Binding("r", "resume", "Resume"),
        Binding("g", "generate", "Generate"),
        Binding("i", "inspect", "Inspect"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("f5", "reload", "Refresh", show=False),  # it reloads every 2 s anyway
    ]

    def __init__(self, runs_dir: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.clock = clock
        self.runs: list[RunInfo] = []
        self.columns: tuple[str, ...] = ()
        self.marked: set[Path] = set()  # runs to compare (space), in no order

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="home-title", markup=False)
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="home-empty", markup=False)
        yield Static(id="home-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "charlm-tui"
        self.sub_title = "runs"
        self.action_reload()
        self.set_interval(2.0, self.poll)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def poll(self) -> None:
        # Under a dashboard, rebuilding this table cost the training child ~5% of its
        # steps on 2 cores (bench/tui_overhead.py); on_screen_resume catches up.
        if self.is_active:  # not is_current: that counts the screen just below the top
            self.action_reload()

    def on_resize(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        try:
            runs = list_runs(self.runs_dir) if self.runs_dir.exists() else []
        except CharLMError as e:
            self.notify(str(e), severity="error")
            runs = []
        table = self.query_one(DataTable)
        selected = self.selected
        width = table.size.width or self.size.width or self.app.size.width
        columns = NARROW if width < NARROW_COLUMNS else COLUMNS
        table.clear(columns=columns != self.columns)
        if columns != self.columns:
            self.columns = columns
            for col in columns:
                table.add_column(col, key=col)
        self.runs = runs
        now = self.clock()
        scrollbar = 2 if len(runs) >= table.size.height else 0
        rows = fit_rows([run_row(info, now) for info in runs], width - scrollbar, columns, SHRINK)
        for info, row in zip(runs, rows, strict=True):
            # Text, not str: DataTable reads a str cell as markup ("[/]" in a name).
            table.add_row(
                *(Text(row[c]) for c in columns),
                key=str(info.path),
                label="●" if info.path in self.marked else None,
            )
        if selected is not None:
            for i, info in enumerate(runs):
                if info.path == selected.path:
                    table.move_cursor(row=i)
        where = visible(str(self.runs_dir))
        title = Text.assemble(
            (f"{len(runs)} run(s)", "bold"), f" in {where}/ · Enter opens · n starts a new one"
        )
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
        """The selected run: what its status means, its folder and corpus (whole when
        they fit, else cut in the middle: the table may have shortened them)."""
        detail = self.query_one("#home-detail", Static)
        info = self.selected
        detail.display = info is not None
        if info is None:
            return
        word = run_status(info)
        meaning = describe_status(word) + (f" ({visible(info.error)})" if info.error else "")
        width = max(detail.size.width - 2, 20)  # - the padding
        path, corpus = visible(str(info.path)), visible(info.corpus)
        where = f"{path} · {visible(info.model)} · corpus {corpus}"
        if cell_len(where) > width:  # the corpus gives way first, then the folder
            room = width - cell_len(where) + cell_len(corpus)
            where = f"{path} · {visible(info.model)} · corpus {shorten_middle(corpus, room)}"
        text = Text.assemble((word, "bold"), cut_end(f": {meaning}", width - cell_len(word)))
        text.append("\n" + shorten_middle(where, width), "dim")
        detail.update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

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

    def action_inspect(self) -> None:
        """Score the first characters of the run's validation split with its checkpoint."""
        if (info := self.selected) is None:
            return
        if not info.checkpoints:
            self.notify(f"{info.path.name} has no checkpoint yet", severity="warning")
            return
        self.post_message(OpenInspect(info.path / info.checkpoints[0]))

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
