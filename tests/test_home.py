"""The home screen: the list of runs, opening one, resuming one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable

from charlm_tui.core.runs.events import DoneEvent, StartEvent
from charlm_tui.core.runs.records import read_records
from charlm_tui.core.runs.rundir import LADDER
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.messages import StartRun
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.dialogs import ChoiceScreen
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.screens.home import HomeScreen
from tests.conftest import make_text
from tests.train_helpers import short_training
from tests.tui_helpers import FIXED_TIME, fake_run, run, tiny_train
from tests.waiting import wait_for


def test_home_lists_runs_and_opens_one(tmp_path: Path) -> None:
    fake_run(tmp_path, "alpha", iters=400)
    fake_run(tmp_path, "beta", iters=200, done=None, age_s=60)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(100, 30)) as pilot:
            home = app.screen
            assert isinstance(home, HomeScreen)
            assert [r.path.name for r in home.runs] == ["beta", "alpha"]  # newest first
            await pilot.press("down", "enter")
            dash = app.screen
            assert isinstance(dash, DashboardScreen) and isinstance(dash.view, RunView)
            assert dash.view.iter == 400 and len(dash.view.evals) == 5
            assert not dash.live and not app.screen.check_action("pause", ())
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("g")  # open the selected run's checkpoint to generate
            assert isinstance(app.screen, GenerateScreen)

    run(scenario())


def test_resume_from_home(corpus_file: Path, tmp_path: Path) -> None:
    short_training(corpus_file, tmp_path / "run", max_iters=20).run()

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            assert [r.path.name for r in app.screen.runs] == ["run"]
            await pilot.press("r")  # finished: it offers to train as long again
            assert isinstance(app.screen, ChoiceScreen)
            assert "finished its 20 iters" in app.screen.question
            await pilot.click("#extend")
            await wait_for(
                pilot,
                lambda: app.process is not None and not app.training,
                "the resumed run's process to exit",
            )
            events = read_records(tmp_path / "run" / "metrics.jsonl")
            assert [e.resumed for e in events if isinstance(e, StartEvent)] == [False, True]
            assert [(e.iter, e.reason) for e in events if isinstance(e, DoneEvent)] == [
                (20, "finished"),
                (40, "finished"),
            ]
            assert app.process.proc.returncode == 0

    run(scenario())


def test_home_selects_the_run_just_trained(corpus_file: Path, tmp_path: Path) -> None:
    fake_run(tmp_path, "alpha", iters=400)
    fake_run(tmp_path, "beta", iters=200, age_s=60)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(100, 30)) as pilot:
            home = app.screen
            await pilot.press("down")
            assert home.selected.path.name == "alpha"
            app.post_message(StartRun(tiny_train(corpus_file, tmp_path / "fresh", max_iters=20)))
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "a dashboard")
            await wait_for(pilot, lambda: not app.training, "the training to end")
            await pilot.press("escape")
            assert app.screen is home
            await wait_for(pilot, lambda: len(home.runs) == 3, "the new run listed")
            assert home.selected.path.name == "fresh"

    run(scenario())


def test_home_names_a_ladder_rung_with_its_ladder(tmp_path: Path) -> None:
    ladder = tmp_path / "lad"
    for name in ("bigram", "mlp"):
        fake_run(ladder, name, iters=100)
    (ladder / LADDER).write_text(json.dumps({"rungs": ["bigram", "mlp"]}))
    fake_run(tmp_path, "solo", iters=100)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(100, 30)) as pilot:
            home = app.screen
            await pilot.pause()
            table = home.query_one(DataTable)
            names = {str(table.get_row_at(i)[0]).strip() for i in range(table.row_count)}
            assert {"lad/bigram", "lad/mlp", "solo"} <= names, names

    run(scenario())


def test_a_run_folder_that_cannot_be_written_is_said_in_the_app(
    tmp_path: Path, monkeypatch
) -> None:
    import errno

    from charlm_tui.tui import process

    def read_only(path: Path, binary: bool = False):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(process, "open_append", read_only)
    fake_run(tmp_path, "stuck", iters=100, done=None)  # killed: r resumes it at once
    monkeypatch.chdir(tmp_path)
    (tmp_path / "play.txt").write_text(make_text(5000, seed=1), encoding="utf-8")  # its corpus

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("r")

            def told() -> str:
                return " ".join(str(n.message) for n in app._notifications)

            await wait_for(pilot, lambda: "cannot train in" in told(), "the error, in the app")
            assert "Read-only file system" in told()
            assert isinstance(app.screen, HomeScreen) and app.process is None
        assert app.return_code in (0, None)  # it stayed up, and quit normally

    run(scenario())


def test_a_crash_inside_the_app_exits_non_zero(monkeypatch) -> None:
    import typer

    from charlm_tui.tui.cli import common

    class Crashed:
        return_code = 1  # what Textual sets when an exception escapes the app

        def run(self) -> None:
            return None

    monkeypatch.setattr(common, "has_terminal", lambda: True)
    with pytest.raises(typer.Exit) as exit_:
        common.launch(Crashed())
    assert exit_.value.exit_code == 1
