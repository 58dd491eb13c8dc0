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


# -- renaming, tagging and deleting from home ---------------------------------------------


def told(app) -> str:
    return " ".join(str(n.message) for n in app._notifications)


def names_listed(home: HomeScreen) -> list[str]:
    return [r.path.name for r in home.runs]


def test_rename_from_home_checks_the_name_as_typed(tmp_path: Path) -> None:
    from textual.widgets import Button, Input

    from charlm_tui.tui.screens.dialogs import RenameScreen

    fake_run(tmp_path, "alpha", iters=100)
    fake_run(tmp_path, "beta", iters=100, age_s=60)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(80, 24)) as pilot:
            home = app.screen
            assert names_listed(home) == ["beta", "alpha"]
            await pilot.press("down", "R")  # alpha
            dialog = app.screen
            assert isinstance(dialog, RenameScreen)
            field = dialog.query_one(Input)
            assert field.value == "alpha"
            field.value = "beta"  # taken
            await pilot.pause()
            assert dialog.query_one("#rename-run", Button).disabled
            assert "name is taken" in str(dialog.query_one("#new-name-error").render())
            await pilot.press("enter")  # refused: the dialog stays
            assert app.screen is dialog and (tmp_path / "alpha").is_dir()
            field.value = "a/b"
            await pilot.pause()
            assert "plain folder name" in str(dialog.query_one("#new-name-error").render())
            field.value = "  gamma ☃ "
            await pilot.pause()
            assert not dialog.query_one("#rename-run", Button).disabled
            await pilot.press("enter")
            await wait_for(pilot, lambda: (tmp_path / "gamma ☃").is_dir(), "the rename")
            await wait_for(pilot, lambda: "gamma ☃" in names_listed(home), "the new listing")
            assert not (tmp_path / "alpha").exists()
            assert home.selected is not None and home.selected.path.name == "gamma ☃"
            assert "renamed alpha to gamma ☃" in told(app)
            await pilot.press("f2", "escape")  # F2 too; Esc leaves it as it is
            assert isinstance(app.screen, HomeScreen) and (tmp_path / "gamma ☃").is_dir()

    run(scenario())


def test_tags_and_notes_from_home(tmp_path: Path) -> None:
    from textual.widgets import Button, Input, TextArea

    from charlm_tui.core.runs.labels import read_labels
    from charlm_tui.tui.screens.dialogs import LabelsScreen

    run_dir = fake_run(tmp_path, "alpha", iters=100)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(60, 20)) as pilot:
            home = app.screen
            await pilot.press("t")
            dialog = app.screen
            assert isinstance(dialog, LabelsScreen)
            await pilot.press(*"b" * 41)  # one tag of 41 characters: too long
            assert dialog.query_one("#save", Button).disabled
            assert "at most 40" in str(dialog.query_one("#tags-error").render())
            dialog.query_one("#tags", Input).value = "baseline, gpt  gpt"
            await pilot.press("tab")  # to the notes
            await pilot.press(*"lr 3e-3", "enter", *"too high?")
            assert dialog.query_one("#notes", TextArea).text == "lr 3e-3\ntoo high?"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: bool(read_labels(run_dir)), "labels.json")
            assert read_labels(run_dir).as_dict() == {
                "tags": ["baseline", "gpt"],
                "notes": "lr 3e-3\ntoo high?",
            }
            await wait_for(pilot, lambda: bool(home.runs[0].labels), "the new listing")
            detail = str(home.query_one("#home-detail").render())
            assert "#baseline #gpt · lr 3e-3 ↵ too high?" in detail
            assert home.query_one(DataTable).get_column("tags") is not None
            await pilot.press("t")  # again: what it has, to edit; emptied, the file goes
            dialog = app.screen
            assert dialog.query_one("#tags", Input).value == "baseline gpt"
            dialog.query_one("#tags", Input).value = ""
            dialog.query_one("#notes", TextArea).text = ""
            await pilot.pause()
            await pilot.click("#save")
            await wait_for(pilot, lambda: not (run_dir / "labels.json").exists(), "the removal")

    run(scenario())


def test_delete_from_home_asks_first_and_cancel_is_the_default(tmp_path: Path) -> None:
    fake_run(tmp_path, "alpha", iters=100)
    fake_run(tmp_path, "beta", iters=100, age_s=60)
    fake_run(tmp_path, "gamma", iters=100, age_s=600)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(80, 24)) as pilot:
            home = app.screen
            assert names_listed(home) == ["beta", "gamma", "alpha"]
            await pilot.press("down", "space")  # gamma, marked for compare
            await pilot.press("up", "d")
            dialog = app.screen
            assert isinstance(dialog, ChoiceScreen) and "Delete the run gamma?" in dialog.question
            await pilot.press("enter")  # the focused button: Cancel
            assert isinstance(app.screen, HomeScreen) and (tmp_path / "gamma").is_dir()
            await pilot.press("delete")
            await pilot.click("#delete")
            await wait_for(pilot, lambda: not (tmp_path / "gamma").exists(), "the delete")
            await wait_for(pilot, lambda: names_listed(home) == ["beta", "alpha"], "the listing")
            assert home.marked == set() and "deleted gamma" in told(app)
            assert home.selected is not None and home.selected.path.name == "alpha"  # below

    run(scenario())


def test_home_columns_narrow_again_with_the_terminal(tmp_path: Path) -> None:
    from charlm_tui.core.runs.labels import Labels, write_labels

    run_dir = fake_run(tmp_path, "a-run-whose-name-is-long-" + "x" * 20, iters=100)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(99, 24)) as pilot:
            table = app.screen.query_one(DataTable)
            columns = list(table.columns)
            for width in (80, 70):  # the same columns: the name is cut, its column narrows
                await pilot.resize_terminal(width, 20)
                await pilot.pause()
                assert list(table.columns) == columns
                assert table.virtual_size.width <= width, width  # status and age in view
            write_labels(run_dir, Labels(("x" * 20, "y"), ""))
            await pilot.resize_terminal(60, 20)
            await pilot.pause()
            labels = [str(c.label) for c in table.columns.values()]
            assert labels[-2:] == ["status", "age"] and "tags" not in labels  # too narrow
            assert table.virtual_size.width <= 60
            assert "#xxxxxxxxxxxxxxxxxxxx #y" in str(app.screen.query_one("#home-detail").render())
            await pilot.resize_terminal(100, 20)
            await pilot.pause()
            assert "tags" in [str(c.label) for c in table.columns.values()]

    run(scenario())


def test_a_training_run_is_not_renamed_or_deleted_from_home(tmp_path: Path) -> None:
    from charlm_tui.core.runs.rundir import RunLock

    run_dir = fake_run(tmp_path, "busy", iters=100, done=None)
    lock = RunLock(run_dir)
    lock.acquire()  # as a training process holds it

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(80, 24)) as pilot:
            for key in ("d", "R"):
                await pilot.press(key)
                assert isinstance(app.screen, HomeScreen), key  # no dialog: said why
                assert "busy is training: stop it first" in told(app)
                app.clear_notifications()
            # The lock taken between the question and the answer: refused all the same.
            lock.release()
            await pilot.press("d")
            assert isinstance(app.screen, ChoiceScreen)
            lock.acquire()
            await pilot.click("#delete")
            await wait_for(pilot, lambda: "cannot delete busy" in " ".join(
                str(n.title) for n in app._notifications), "the refusal")  # fmt: skip
            assert "busy is training" in told(app) and (run_dir / "best.pt").is_file()
        assert app.return_code in (0, None)

    try:
        run(scenario())
    finally:
        lock.release()


def test_home_shows_no_labels_for_a_labels_file_that_is_refused(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "odd", iters=100)
    fake_run(tmp_path, "tagged", iters=100, age_s=60)
    (tmp_path / "tagged" / "labels.json").write_text(json.dumps({"tags": ["ok"], "notes": ""}))
    (run_dir / "labels.json").write_text(
        json.dumps({"tags": ["evil\x1b]2;pwned\x07"], "notes": "\x1b[31mred"})
    )

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(80, 24)) as pilot:
            home = app.screen
            await pilot.pause()
            odd = next(v for v in home.runs if v.path == run_dir)
            assert not odd.labels
            home.query_one(DataTable).move_cursor(row=home.runs.index(odd))
            await pilot.pause()
            assert "no tags or notes" in str(home.query_one("#home-detail").render())
            await pilot.press("t")  # the dialog says saving replaces the refused file
            assert "could not be read" in " ".join(
                str(w.render()) for w in app.screen.query("Label")
            )

    run(scenario())
