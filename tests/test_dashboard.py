"""The dashboard: keys, steering, the quit dialog, tabs, small terminals, live numbers.

Also what it does while another screen covers it."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.widgets import TabbedContent

from charlm_tui.core.measures import Metrics
from charlm_tui.core.models.checkpoint import load_checkpoint
from charlm_tui.core.runs.control import write_control
from charlm_tui.core.runs.events import EvalEvent, NoteEvent, StartEvent, StepEvent, record_of
from charlm_tui.core.runs.records import dump_line, read_records
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.process import train_argv
from charlm_tui.tui.screens.dashboard import DashboardScreen, status_line
from charlm_tui.tui.screens.dialogs import ChoiceScreen
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.widgets.run_tabs import CheckpointList
from tests.tui_helpers import (
    FIXED_TIME,
    dashboard_drawn,
    done_reasons,
    fake_run,
    footer_keys,
    footer_labels,
    live_dashboard,
    run,
    stop_training,
    tiny_train,
)
from tests.waiting import wait_for

# -- keys of a live run -------------------------------------------------------------------


def test_training_dashboard_keys(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, train=tiny_train(corpus_file, out))
        async with app.run_test(size=(120, 36)) as pilot:
            dash = app.screen
            assert isinstance(dash, DashboardScreen)

            def state():
                return dash.view

            await wait_for(
                pilot, lambda: dash.live and len(state().evals) >= 1, "the first eval of the run"
            )
            assert dash.check_action("pause", ())
            # steering, in view
            await wait_for(pilot, lambda: "plus" in footer_keys(app), "the + key in the footer")
            await pilot.resize_terminal(80, 24)
            await wait_for(  # 80 columns too
                pilot, lambda: {"plus", "g"} <= footer_keys(app), "+ and g in an 80-column footer"
            )
            await pilot.resize_terminal(120, 36)

            await pilot.press("p")
            await wait_for(pilot, lambda: "paused" in dash.status, "the status 'paused'")
            # The trainer notes the pause in its records: no step record follows the note.
            await wait_for(pilot, lambda: state().noted_pause(), "the trainer's note of the pause")
            frozen = state().iter
            await wait_for(pilot, lambda: "Resume" in footer_labels(app), "p Resume in the footer")
            assert "Pause" not in footer_labels(app)

            await pilot.press("t")  # sample now, even while paused
            await wait_for(pilot, lambda: len(state().samples) == 1, "the sample asked for")
            await pilot.press("c")  # save a checkpoint now
            await wait_for(
                pilot,
                lambda: getattr(state().checkpoints.get("last"), "iter", None) == frozen,
                "last.pt saved at the paused iteration",
            )
            # Paused means paused: the trainer went round its loop for both requests and
            # took no step.
            assert state().iter == frozen and state().samples[-1].iter == frozen

            await pilot.press("p")
            await wait_for(pilot, lambda: state().iter > frozen + 5, "5 steps after resuming")
            assert dash.status.startswith("running")
            await wait_for(pilot, lambda: "Pause" in footer_labels(app), "p Pause in the footer")
            assert "Resume" not in footer_labels(app)

            await pilot.press("s")  # stop: saves last.pt
            await wait_for(
                pilot,
                lambda: state().done is not None and not app.training,
                "the stopped run's done record and its process's exit",
            )
            assert state().done.reason == "stopped"
            assert load_checkpoint(out / "last.pt")["iter"] == state().done.iter
            await wait_for(  # nothing left to steer
                pilot, lambda: not dash.check_action("pause", ()), "the steering keys to go"
            )

    run(scenario())


def test_generate_from_the_live_dashboard_uses_current_weights(
    corpus_file: Path, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with live_dashboard(corpus_file, tmp_path / "run", steps=20) as (app, pilot, dash):
            pressed_at = dash.view.iter
            await pilot.press("g")
            await wait_for(
                pilot, lambda: isinstance(app.screen, GenerateScreen), "the generate pane"
            )
            shown = re.search(r"iter ([\d,]+)", str(app.screen.label)).group(1)
            # Saved on request: the weights of that moment or later (evals save too).
            assert int(shown.replace(",", "")) >= pressed_at > 20
            await pilot.press("escape")  # back to the dashboard, training goes on
            assert isinstance(app.screen, DashboardScreen)
            await stop_training(pilot, app)

    run(scenario())


def test_watch_steers_a_headless_run(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = train_argv(tiny_train(corpus_file, out))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def scenario() -> None:
        app = CharLMApp(watch=out)
        async with app.run_test(size=(100, 30)) as pilot:
            dash = app.screen
            await wait_for(pilot, lambda: dash.live and dash.view.iter > 5, "5 steps")
            await pilot.press("s")
            await wait_for(pilot, lambda: dash.view.done is not None, "the run's done record")
            assert dash.view.done.reason == "stopped"

    try:
        run(scenario())
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_a_failing_training_process_is_reported_not_fatal(
    corpus_file: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "vanishing.txt"
    corpus.write_bytes(corpus_file.read_bytes())
    plan = tiny_train(corpus, tmp_path / "run")
    corpus.unlink()  # gone since the check

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, train=plan)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(
                pilot,
                lambda: app.process is not None and not app.training,
                "the training process to exit",
            )

            def messages() -> list[str]:
                return [n.message for n in app._notifications]

            await wait_for(
                pilot,
                lambda: any("no such file" in m for m in messages()),
                "a notification that the corpus is missing",
            )
            await wait_for(  # the status line is redrawn once a second
                pilot,
                lambda: "failed: charlm-tui: error: no such file" in app.screen.status,
                "the status line to say the training failed",
            )
            assert app.is_running  # the app survived

    run(scenario())


# -- steering keys ------------------------------------------------------------------------


def test_steering_keys_change_a_live_run(corpus_file: Path, tmp_path: Path) -> None:
    from charlm_tui.core.runs.events import SteerEvent
    from charlm_tui.tui.screens.steer import SteerScreen
    from charlm_tui.tui.widgets.metrics import timing_text

    out = tmp_path / "run"

    async def scenario() -> None:
        async with live_dashboard(corpus_file, out, steps=3) as (app, pilot, dash):

            def steered() -> dict:
                return {e.field: e.new for e in dash.view.steers}

            await pilot.press("plus")  # lr x1.25
            await wait_for(pilot, lambda: steered().get("lr_scale") == 1.25, "lr_scale 1.25")
            await pilot.press("minus", "minus")  # /1.25 twice
            await wait_for(
                pilot, lambda: steered().get("lr_scale") == pytest.approx(0.8), "lr_scale 0.8"
            )
            await pilot.press("right_square_bracket")  # 10% longer
            await wait_for(
                pilot, lambda: steered().get("max_iters") == 110_000, "max_iters 110,000"
            )
            await pilot.press("e")
            assert isinstance(app.screen, SteerScreen)
            field = app.screen.query_one("#eval_interval")
            field.value = "0"
            await pilot.pause()
            assert "must be in" in str(app.screen.query_one("#eval_interval-error").render())
            field.value = "7"
            await pilot.press("enter")
            await wait_for(pilot, lambda: steered().get("eval_interval") == 7, "eval_interval 7")
            await pilot.press("m")
            app.screen.query_one("#sample_temperature").value = "1.3"
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: steered().get("sample_temperature") == 1.3,
                "sample_temperature 1.3",
            )
            assert "steered @" in str(timing_text(dash.view))
            await stop_training(pilot, app)
        events = read_records(out / "metrics.jsonl")
        fields = [e.field for e in events if isinstance(e, SteerEvent)]
        assert fields.count("lr_scale") == 3 and "max_iters" in fields
        assert load_checkpoint(out / "last.pt")["config"]["train"]["eval_interval"] == 7

    run(scenario())


# -- the quit dialog ----------------------------------------------------------------------


def test_quit_while_training_asks_then_saves(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    async def scenario() -> None:
        async with live_dashboard(corpus_file, out, steps=10, size=(100, 30)) as (app, pilot, _):
            await pilot.press("q")
            assert isinstance(app.screen, ChoiceScreen)
            await pilot.press("escape")  # changed my mind
            assert app.training
            await pilot.press("q")
            await pilot.click("#stop")
            await wait_for(pilot, lambda: not app.is_running, "the app to exit", timeout=60)
        assert app.process.proc.returncode == 0
        done = done_reasons(out)
        assert done[-1].reason == "stopped"
        assert load_checkpoint(out / "last.pt")["iter"] == done[-1].iter

    run(scenario())


def test_save_and_quit_after_the_run_ended_under_the_question_quits(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"

    async def scenario() -> None:
        async with live_dashboard(corpus_file, out, steps=5) as (app, pilot, _):
            await pilot.press("q")
            assert isinstance(app.screen, ChoiceScreen)
            write_control(out, stop=True)  # the run ends while the question is open
            await wait_for(pilot, lambda: done_reasons(out), "the run's done record")
            await wait_for(pilot, lambda: not app.training, "the training process to exit")
            await pilot.click("#stop")
            await wait_for(pilot, lambda: not app.is_running, "the app to exit")
        assert [d.reason for d in done_reasons(out)] == ["stopped"]

    run(scenario())


def test_quit_keep_training_exits_now_and_leaves_the_run_going(
    corpus_file: Path, tmp_path: Path
) -> None:
    app = CharLMApp(runs_dir=tmp_path, train=tiny_train(corpus_file, tmp_path / "run"))

    async def scenario() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.screen.live and app.screen.view.iter > 5, "5 steps")
            await pilot.press("q")
            await pilot.click("#leave")

    # The thread following the child must not keep the closing app alive until the run
    # ends (100,000 iterations): the app runs on a thread the test can time out.
    thread = threading.Thread(target=run, args=(scenario(),), daemon=True)
    thread.start()
    thread.join(timeout=60)
    try:
        assert not thread.is_alive(), "the app did not exit while its run went on"
        assert app.process is not None and app.process.running
    finally:
        if app.process is not None and app.process.proc is not None:
            app.process.proc.kill()
            app.process.proc.wait()


def test_the_quit_dialog_is_centred_and_arrows_choose_the_button(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            answers: list[str | None] = []
            choices = [
                ("stop", "Save and quit"),
                ("leave", "Quit, keep training"),
                ("cancel", "Cancel"),
            ]
            app.push_screen(ChoiceScreen("run is training.", choices), answers.append)
            await pilot.pause()
            dialog = app.screen.query_one(".dialog")
            region, screen = dialog.region, app.screen.region
            assert abs((region.x + region.width / 2) - screen.width / 2) <= 1
            assert abs((region.y + region.height / 2) - screen.height / 2) <= 2
            await pilot.press("left")  # what the user sees focused is what Enter presses
            assert app.focused.id == "leave"
            await pilot.press("right", "left", "left")
            assert app.focused.id == "stop"
            await pilot.press("right", "enter")
            assert answers == ["leave"]

    run(scenario())


def test_the_quit_dialog_shows_every_answer_in_small_terminals(tmp_path: Path) -> None:
    async def scenario(size: tuple[int, int]) -> None:
        app = CharLMApp(runs_dir=tmp_path)
        async with app.run_test(size=size) as pilot:
            choices = [
                ("stop", "Save and quit"),
                ("leave", "Quit, keep training"),
                ("no", "Cancel"),
            ]
            app.push_screen(ChoiceScreen("run is training. " * 8, choices))
            await pilot.pause()
            inside = app.screen.query_one(".dialog").content_region
            for button in app.screen.query("Button"):
                assert inside.contains_region(button.region), (size, button.id)

    for size in ((60, 20), (80, 24)):
        run(scenario(size))


# -- tabs: samples, model, checkpoints ----------------------------------------------------


def test_number_keys_switch_the_dashboard_tabs(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "alpha")

    async def scenario() -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            tabs = app.screen.query_one(TabbedContent)
            for key, tab in (
                ("2", "model-tab"),
                ("3", "checkpoints-tab"),
                ("1", "samples-tab"),
            ):  # fmt: skip (the number keys, not [ and ]: those shorten and extend a run)
                await pilot.press(key)
                assert tabs.active == tab, key

    run(scenario())


def test_the_checkpoints_ages_go_on_after_the_run_ended(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "alpha", age_s=5)
    now = [FIXED_TIME]

    async def scenario() -> None:
        app = CharLMApp(watch=run_dir, clock=lambda: now[0])
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.screen.query_one(CheckpointList)
            await pilot.press("3")

            def saved() -> str:
                return str(table.get_row_at(0)[-1]) if table.row_count else ""

            await wait_for(pilot, lambda: saved() == "5s ago", "the checkpoints listed")
            now[0] += 600  # ten minutes on, and no record since
            await wait_for(pilot, lambda: saved() == "10m ago", "the age to go on")

    run(scenario())


def test_a_runs_checkpoints_are_listed_and_open_in_the_generate_pane(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "alpha", iters=400)

    async def scenario() -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            dash = app.screen
            dash.query_one(TabbedContent).active = "checkpoints-tab"
            await pilot.pause()
            table = dash.query_one(CheckpointList)
            assert [table.get_row_at(i)[0] for i in range(table.row_count)] == [
                "best.pt",
                "last.pt",
            ]
            table.focus()
            await pilot.press("enter")
            assert isinstance(app.screen, GenerateScreen)
            assert "alpha/best.pt" in str(app.screen.label)

    run(scenario())


def test_model_tab_names_position_activation_and_optimizer() -> None:
    from rich.console import Console

    from charlm_tui.core.measures import LayerSummary
    from charlm_tui.tui.widgets.run_tabs import summary_table

    def rendered(model_config: dict, train_config: dict | None = None) -> str:
        start = StartEvent(
            0, None, "gpt", "x", 10, None, 100, 65, 9, 1, "cpu", 2, 1, False,
            (LayerSummary("wte", "Embedding", 100),),
        )  # fmt: skip
        view = RunView(Path("nowhere"))
        view.config, view.start = {"model": model_config, "train": train_config or {}}, start
        console = Console(width=80, record=True)
        console.print(summary_table(view))
        return console.export_text()

    assert "rope · relu2" in rendered({"model": "gpt", "position": "rope", "activation": "relu2"})
    assert "learned · gelu" in rendered({"model": "gpt"})  # a config without these options
    assert "positions" not in rendered({"model": "bigram"})
    assert "muon · 0.003" in rendered({"model": "gpt"}, {"optimizer": "muon", "lr": 0.003})
    assert "adamw · 0.1" in rendered({"model": "bigram"}, {"lr": 0.1})  # no --optimizer: adamw


# -- live numbers, small terminals, covered screens ---------------------------------------


def test_dashboard_numbers_follow_step_records_between_evals(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "going", iters=400, done=None)
    with (run_dir / "metrics.jsonl").open("a") as f:  # steps after the eval at 400's...
        for it in (410, 420):
            step = StepEvent(it, 1.5, 3e-3, 1.0, 0.02, 40960.0, it * 0.01, 0.5, 9.0)
            f.write(dump_line(record_of(step)))
    config = json.loads((run_dir / "config.json").read_text())
    config["train"].update(max_iters=1000, eval_interval=100, sample_interval=50)
    (run_dir / "config.json").write_text(json.dumps(config))

    async def scenario() -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            panel = app.screen.query_one("#metrics")
            await wait_for(
                pilot,
                lambda: "step 420" in str(panel.query_one("#step-line").render()),
                "the step line to show the last step record",
            )
            await pilot.pause()  # and the panel laid out
            table = str(panel.query_one("#metrics-table").render_line(0).text)
            assert table.startswith("@400") and "best @400" in table
            step = str(panel.query_one("#step-line").render())
            assert "step 420" in step and "loss 1." in step
            timing = str(panel.query_one("#timing").render())
            assert "41.0k tok/s" in timing  # the latest step record's rate
            # 80 steps to the eval at 500, 30 to the sample at 450, at ~10-20 ms a step
            assert "next eval 00:01 · sample 00:00" in timing
            assert "ETA 00:09" in timing

    run(scenario())


def test_the_status_line_cuts_the_note_before_the_corpus(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "alpha", done=None)
    told = "paused by a request in control.json (a dashboard, or charlm-tui steer)"
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(dump_line(record_of(NoteEvent(400, told))))
    view = RunView(run_dir)
    view.update()
    for width in (160, 120, 80, 60):
        line = status_line(view, None, width)
        assert cell_len(line) <= width - 2, (width, line)
        if width >= 80:
            assert " · gpt 1×2×32 · block 32 · corpus play.txt" in line, (width, line)
    assert status_line(view, None, 160).endswith(told)
    assert status_line(view, None, 120).endswith("…")

    async def scenario() -> None:  # and as drawn, at 120 columns
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=(120, 36)) as pilot:
            status = app.screen.query_one("#status")
            await wait_for(pilot, lambda: "play.txt" in str(status.render()), "the status line")

    run(scenario())


def test_metrics_show_every_number_in_full_at_80_columns_and_up(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "long", iters=4000)
    train = Metrics(10.1234, 0.5, 0.9, 100)  # two digits before the point
    val = Metrics(1.2345, 0.5, 0.9, 100)
    late = EvalEvent(123_450, train, val, 1e-3, 1.0, 0.1, 1e4, 1.0, 0.5, 1.0, 1.2345, True)
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(dump_line(record_of(late)))

    async def scenario(size: tuple[int, int]) -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=size) as pilot:
            table = app.screen.query_one("#metrics-table")
            await wait_for(
                pilot, lambda: "123,450" in str(table.render_line(0).text), f"the eval at {size}"
            )
            await pilot.pause()  # and laid out
            lines = [table.render_line(y).text for y in range(3)]
            assert "…" not in "".join(lines), (size, lines)
            assert lines[0].startswith("@123,450") and "best @123,450" in lines[0], size
            assert lines[1].split() == ["loss", "10.1234", "1.2345", "1.2345"], size

    for size in ((80, 24), (120, 36), (160, 40)):
        run(scenario(size))


def test_small_terminals_keep_samples_and_borders(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "alpha")

    async def scenario(size: tuple[int, int]) -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=size) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: dashboard_drawn(screen), f"the dashboard drawn at {size}")
            await pilot.pause()  # and laid out
            samples = screen.query_one("#samples")
            assert samples.region.height >= 3, size  # the samples pane stays
            for pane in screen.query("#metrics, #chart"):
                if pane.display:  # whole: borders inside the screen, above the tab bar
                    assert pane.region.bottom <= screen.query_one("#bottom").region.y, size
                    assert pane.region.right <= size[0], size
            chart = screen.query_one("#chart")
            assert not chart.display or chart.region.width >= 30, size  # or no chart at all

    for size in ((120, 36), (100, 30), (80, 24), (60, 20)):
        run(scenario(size))


def test_covered_screens_stop_redrawing_and_catch_up_when_uncovered(tmp_path: Path) -> None:
    # A covered home or dashboard that redraws every poll takes steps from the training
    # child process on 2 cores (bench/tui_overhead.py measures it).
    fake_run(tmp_path, "alpha", iters=400)
    run_dir = fake_run(tmp_path, "going", iters=400, done=None, age_s=60)  # listed first

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(120, 36)) as pilot:
            home = app.screen
            assert isinstance(home, HomeScreen) and len(home.runs) == 2
            await pilot.press("enter")
            dash = app.screen
            assert isinstance(dash, DashboardScreen) and dash.shown
            fake_run(tmp_path, "gamma", iters=100)
            home.poll()
            assert len(home.runs) == 2  # covered: no rebuild
            await pilot.press("g")
            assert isinstance(app.screen, GenerateScreen) and not dash.shown
            drawn = dash._drawn
            with (run_dir / "metrics.jsonl").open("a") as f:
                step = StepEvent(410, 1.5, 3e-3, 1.0, 0.02, 40960.0, 4.1, 0.5, 9.0)
                f.write(dump_line(record_of(step)))
            dash.refresh_view()
            assert dash.view.iter == 410 and dash._drawn == drawn  # read, not drawn
            await pilot.press("escape")
            assert app.screen is dash and dash._drawn == dash.view.version
            assert "step 410" in str(dash.query_one("#step-line").render())
            await pilot.press("escape")
            assert app.screen is home and len(home.runs) == 3  # caught up on resume

    run(scenario())
