"""The compare screen: opened from home's marks, its keys, a live run, a small terminal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable

from charlm_tui.core.measures import Metrics
from charlm_tui.core.runs.events import EvalEvent
from charlm_tui.core.runs.records import MetricsWriter
from charlm_tui.core.runs.rundir import METRICS
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.screens.compare import CompareChart, CompareScreen
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.tables import COLUMN_KEYS
from charlm_tui.tui.widgets.loss_chart import CurvePlot
from tests.tui_helpers import FIXED_TIME, fake_run
from tests.waiting import wait_for


def scenario(coro) -> None:
    asyncio.run(coro)


def _open(paths: list[Path]):
    from charlm_tui.tui.messages import OpenCompare

    return OpenCompare(paths)


def test_home_marks_runs_and_opens_the_comparison(tmp_path: Path) -> None:
    for name, iters in (("alpha", 400), ("beta", 200), ("gamma", 300)):
        fake_run(tmp_path, name, iters=iters, age_s=iters)

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(120, 36)) as pilot:
            home = app.screen
            assert isinstance(home, HomeScreen)
            await pilot.press("c")  # nothing marked: says so, opens nothing
            assert isinstance(app.screen, HomeScreen)
            order = [r.path.name for r in home.runs]
            await pilot.press("space", "space")  # marks the first two (the cursor moves on)
            assert {p.name for p in home.marked} == set(order[:2])
            await pilot.press("up", "space")  # and unmarks the second
            assert {p.name for p in home.marked} == {order[0]}
            await pilot.press("space", "c")  # the cursor was on the third: marked too
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            assert sorted(r.label for r in screen.runs) == sorted([order[0], order[2]])
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)

    scenario(go())


def test_compare_screen_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = [fake_run(tmp_path, n, iters=i) for n, i in (("a", 400), ("b", 200), ("c", 300))]

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, compare=_open(paths))
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, CompareScreen), "the compare screen"
            )
            screen = app.screen
            chart = screen.query_one(CompareChart)
            table = screen.query_one(DataTable)
            assert [r.name for r in screen.rows] == ["a", "b", "c"]  # as given
            colours = dict(screen.run_colors)

            await pilot.press("s")  # sort: first column, then the next...
            assert screen.sort_key == "name"
            for _ in range(COLUMN_KEYS.index("val_loss")):
                await pilot.press("s")
            assert screen.sort_key == "val_loss"
            assert [r.name for r in screen.rows] == ["a", "c", "b"]
            await pilot.press("r")
            assert [r.name for r in screen.rows] == ["b", "c", "a"]
            await pilot.click(DataTable, offset=(2, 0))  # a header click sorts by its column
            assert screen.sort_key == "name" and not screen.reverse
            assert dict(screen.run_colors) == colours  # sorting never repaints a run

            await pilot.press("slash", "b")  # filter by typing
            assert [r.name for r in screen.rows] == ["b"]
            assert len(chart.runs) == 1
            await pilot.press("escape", "slash", "backspace", "enter")
            assert [r.name for r in screen.rows] == ["a", "b", "c"]
            assert table.has_focus

            assert chart.x_axis == "iter"
            await pilot.press("x")
            assert chart.x_axis == "chars" and "chars seen" in str(chart.border_title)
            await pilot.press("x")
            assert chart.x_axis == "seconds"
            await pilot.press("x")
            await pilot.press("l")
            assert chart.log_y and "log-y" in str(chart.border_title)
            await pilot.press("right_parenthesis")
            assert chart.smoothing == 0.6 and "smooth 0.6" in str(chart.border_title)
            await pilot.press("right_parenthesis", "left_parenthesis", "left_parenthesis")
            assert chart.smoothing == 0.0 and "raw" in str(chart.border_title)
            await pilot.press("t")
            assert chart.show_train

            await pilot.press("full_stop")  # the cursor starts at the right end
            assert chart.cursor == 400
            await pilot.press("comma")
            assert chart.cursor == 392
            readout = str(chart.query_one("#compare-readout").render())
            assert "cursor at 392:" in readout
            await wait_for(
                pilot,
                lambda: "cursor" in [str(k.value) for k in table.columns],
                "the table's cursor column",
            )
            cols = [str(c.label) for c in table.columns.values()]
            assert "▸ 392" in cols  # each run's val/train at the cursor, beside its name
            at = cols.index("▸ 392")
            assert table.get_row(str(paths[0]))[at].plain.startswith("1.")
            assert table.get_row(str(paths[1]))[at].plain == "–/–"  # b ends before 392

            # b, selected while the filter showed it alone, stays selected without it
            assert screen.selected is not None and screen.selected.name == "b"
            await pilot.press("b")  # pin b: the table shows differences from it
            assert screen.baseline == "b"
            cols = [str(c.label) for c in table.columns.values()]
            assert "Δ val" in cols
            assert table.get_row(str(paths[1]))[cols.index("Δ val")].plain == "base"

            await pilot.press("ctrl+s")
            shots = list(tmp_path.glob("charlm-compare-*.svg"))
            assert len(shots) == 1 and "<svg" in shots[0].read_text(encoding="utf-8")

            await pilot.press("enter")  # the selected run's dashboard
            assert isinstance(app.screen, DashboardScreen)

    scenario(go())


def test_compare_follows_a_run_still_training(tmp_path: Path) -> None:
    path = fake_run(tmp_path, "live", iters=200, done=None)

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, compare=_open([path]))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, CompareScreen), "the compare screen"
            )
            screen = app.screen
            assert screen.rows[0].iters == 200
            writer = MetricsWriter(path / METRICS)
            m = Metrics(1.2, 0.5, 0.9, 100)
            writer.handle(EvalEvent(300, m, m, 1e-3, 1, 0.1, 1, 3, 0.5, 1, 1.2, True))
            writer.close()
            await wait_for(
                pilot, lambda: screen.rows[0].iters == 300, "the new eval at 300 in the table"
            )
            assert screen.rows[0].val_loss == 1.2
            assert screen.query_one(CompareChart).runs[0][0].evals[-1].iter == 300

    scenario(go())


def test_at_60x20_six_runs_leave_the_chart_its_rows(tmp_path: Path) -> None:
    """At 60 x 20, six runs' legend, a cursor readout and the table must leave the plot
    its rows, and a readout of six values cannot fit a line there: the plot keeps 6 rows,
    the legend names all six, and the values at the cursor go to a table column."""
    paths = [fake_run(tmp_path, f"a-long-run-name-{i}", iters=200) for i in range(6)]

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, compare=_open(paths))
        async with app.run_test(size=(60, 20)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, CompareScreen), "the compare screen"
            )
            plot = app.screen.query_one("#compare-plot", CurvePlot)
            legend = app.screen.query_one("#compare-legend")
            await wait_for(
                pilot,
                lambda: plot.size.height >= 6 and legend.size.height == 3,
                "a 6-row plot beside a 3-row legend",
            )
            table = app.screen.query_one(DataTable)
            assert "cursor" not in [str(k.value) for k in table.columns]
            await pilot.press("full_stop")
            await wait_for(
                pilot,
                lambda: "cursor" in [str(k.value) for k in table.columns],
                "the table's cursor column",
            )
            values = [str(table.get_cell_at((i, 1))) for i in range(table.row_count)]
            assert len(values) == 6 and all(v != "–" and float(v) > 0 for v in values)
            assert plot.size.height >= 6 and legend.display

    scenario(go())


def test_w_writes_the_report_of_the_runs_shown_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = [
        fake_run(tmp_path / "runs", n, iters=i)
        for n, i in (("alpha", 400), ("beta", 200), ("gamma", 300))
    ]

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path / "runs", compare=_open(paths))
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, CompareScreen), "the compare screen"
            )
            await pilot.press("slash", *"alpha", "enter")  # the filter shows alpha alone...
            await pilot.press("x")  # ...charted against characters seen
            await pilot.press("w")
            await wait_for(
                pilot,
                lambda: any("wrote" in n.message for n in app._notifications),
                "the report's notification",
            )
            reports = list(tmp_path.glob("charlm-report-*.md"))
            assert len(reports) == 1
            said = next(n.message for n in app._notifications if "wrote" in n.message)
            assert str(reports[0]) in said
            text = reports[0].read_text(encoding="utf-8")
            assert "### alpha\n" in text and "### beta\n" not in text  # the runs shown, only
            folder = reports[0].with_name(reports[0].stem + "_files")
            assert (folder / "loss.png").is_file()
            assert "characters seen" in (folder / "loss.svg").read_text()

    scenario(go())


def test_runs_on_different_corpora_are_flagged(tmp_path: Path) -> None:
    from tests.test_compare_rows import with_corpus

    paths = [
        with_corpus(fake_run(tmp_path, n, iters=100), "play.txt", sha * 64)
        for n, sha in (("a", "a"), ("b", "b"))
    ]

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, compare=_open(paths))
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, CompareScreen), "the compare screen"
            )
            await wait_for(
                pilot,
                lambda: any("different corpora" in n.message for n in app._notifications),
                "the corpora warning",
            )
            status = str(app.screen.query_one("#compare-status").render())
            assert "different corpora" in status

    scenario(go())


def test_g_shows_one_row_and_one_mean_curve_per_seed_group(tmp_path: Path) -> None:
    # a and b were trained with the same options but their seeds: one group of two; c ran
    # for fewer iterations: a group of its own
    for name, iters, seed in (("a", 400, 1), ("b", 400, 2), ("c", 200, 1)):
        fake_run(tmp_path, name, iters=iters, seed=seed)

    async def go() -> None:
        app = CharLMApp(compare=_open([tmp_path / n for n in "abc"]))
        async with app.run_test(size=(120, 36)) as pilot:
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            await wait_for(pilot, lambda: len(screen.rows) == 3, "the three runs")
            table = screen.query_one(DataTable)
            assert table.row_count == 3
            await pilot.press("g")
            await wait_for(pilot, lambda: table.row_count == 2, "one row per group")
            first = [str(c) for c in table.get_row_at(0)]
            assert first[1] == "2" and "(1 seed)" in str(table.get_row_at(1)[3])
            chart = screen.query_one(CompareChart)
            assert [val.label for _, val, _ in chart.series()] == ["a (+1) ×2", "c ×1"]
            status = str(screen.query_one("#compare-status").render())
            assert "2 seed groups" in status
            await pilot.press("g")
            await wait_for(pilot, lambda: table.row_count == 3, "the runs again")

    scenario(go())
