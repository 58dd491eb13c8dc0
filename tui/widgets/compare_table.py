"""The compare screen's table: one row per run, its colour beside its name, the values
at the chart's cursor, the differences from a baseline, the sort column marked."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from charlm_tui.core.report.groups import METRICS, Difference, Group
from charlm_tui.core.text.display import visible_line
from charlm_tui.tui.tables import COLUMNS, DELTAS, Row, cell, delta_cell
from charlm_tui.tui.widgets.loss_chart import RGB, swatch

WHITE: RGB = (255, 255, 255)


class CompareTable(DataTable):
    def on_mount(self) -> None:
        self.fixed_columns = 1  # the run's name stays in view when it scrolls sideways
        self.rows_shown: list[Row] = []

    def show(
        self,
        rows: list[Row],
        colors: dict[str, RGB],
        baseline: str | None,
        sort: tuple[str | None, bool],
        cursor: tuple[str, dict[str, str]],
    ) -> None:
        """Fill the table again, keeping the selected run and the sideways scroll."""
        selected, scroll_x = self.selected, self.scroll_x
        self.clear(columns=True)
        self._columns(baseline, sort, cursor)
        readings = cursor[1]
        for row in rows:
            cells: list[Text] = []
            for c in COLUMNS:
                if c.key == "name":
                    name = swatch(visible_line(row.name), colors.get(row.name, WHITE))
                    if row.name == baseline:
                        name.append(" ◆", style="bold")
                    cells.append(name)
                    if readings:
                        cells.append(Text(readings.get(row.name, "–"), justify="right"))
                else:
                    cells.append(Text(cell(row, c.key), justify="right" if c.numeric else "left"))
                if c.key == "val_top5" and baseline is not None:
                    for d in DELTAS:
                        base = row.name == baseline
                        cells.append(Text("base" if base else delta_cell(row, d), justify="right"))
            self.add_row(*cells, key=row.path)
        self.rows_shown = list(rows)
        if selected is not None:
            for i, row in enumerate(rows):
                if row.path == selected.path:
                    self.move_cursor(row=i, animate=False)
        self.scroll_x = scroll_x

    def _columns(
        self, baseline: str | None, sort: tuple[str | None, bool], cursor: tuple[str, dict]
    ) -> None:
        sort_key, reverse = sort
        for c in COLUMNS:
            arrow = (" ▼" if reverse else " ▲") if c.key == sort_key else ""
            self.add_column(Text(c.title + arrow, justify="right" if c.numeric else "left"),
                            key=c.key)  # fmt: skip
            if c.key == "val_top5" and baseline is not None:
                for d in DELTAS:
                    title = "Δ val" if d == "val_loss" else "Δ top@1"
                    self.add_column(Text(title, justify="right"), key=f"delta:{d}")
            if c.key == "name" and cursor[1]:  # beside the names: in view at any width
                self.add_column(Text(f"▸ {cursor[0]}", justify="right"), key="cursor")

    def show_groups(
        self,
        groups: list[Group],
        tests: list[Difference],
        colors: dict[str, RGB],
        cursor: tuple[str, dict[str, str]],
    ) -> None:
        """One row per seed group: n, mean ± std of each number, and its difference from
        the baseline group with Welch's test; at the cursor, each group's mean."""
        row_at = self.cursor_row
        self.clear(columns=True)
        self.rows_shown = []
        readings = cursor[1]
        heads = ["group", "n", "iters", *METRICS.values(), "Δ best val", "95% CI", "p"]
        if readings:
            heads.insert(1, f"▸ {cursor[0]}")
        for head in heads:
            self.add_column(Text(head, justify="left" if head == "group" else "right"))
        by_name = {d.a: d for d in tests}
        for g in groups:
            name = swatch(visible_line(g.name), colors.get(g.rows[0].name, WHITE))
            stats = g.stat_cells()
            d = by_name.get(g.name)
            test = d.cells() if d is not None else ["base" if tests else "", "", ""]
            cells = [name, Text(str(g.n), justify="right"), Text(g.iters_text(), justify="right"),
                     *(Text(c, justify="right") for c in [*stats, *test])]  # fmt: skip
            if readings:
                cells.insert(1, Text(readings.get(f"{g.name} ×{g.n}", "–"), justify="right"))
            self.add_row(*cells)
        if row_at is not None and row_at < len(groups):
            self.move_cursor(row=row_at, animate=False)

    @property
    def selected(self) -> Row | None:
        rows = getattr(self, "rows_shown", [])
        if not rows or self.cursor_row is None or self.cursor_row >= len(rows):
            return None
        return rows[self.cursor_row]
