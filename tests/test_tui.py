"""Pilot tests: every screen and key action, driven as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest
import torch
from textual.widgets import TabbedContent

from charlm_tui.core.decoding.options import GenerateOptions, SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.measures import Metrics
from charlm_tui.core.models.checkpoint import load_checkpoint
from charlm_tui.core.models.quant import decoder_for
from charlm_tui.core.runs.events import (
    DoneEvent,
    EvalEvent,
    SampleEvent,
    StartEvent,
    StepEvent,
    record_of,
)
from charlm_tui.core.runs.records import JsonlTail, dump_line, read_records
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.training.plan import RunPlan, plan_new
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.process import train_argv
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.dialogs import ChoiceScreen
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.screens.new_run import NewRunScreen, parse_form
from charlm_tui.tui.widgets.checkpoints import CheckpointList
from tests.train_helpers import new_training
from tests.tui_helpers import FIXED_TIME, fake_run, wait_for


def tiny_train(corpus: Path, out: Path, **over) -> RunPlan:
    """What CharLMApp(train=...) takes: a checked plan for a long tiny run."""
    values = dict(
        data=str(corpus), max_iters=100_000, eval_interval=50, sample_interval=0, log_interval=1
    )
    values.update(over)
    return plan_new("tiny", values, out)


def tiny_trainer(corpus: Path, out: Path, **over):
    values = dict(max_iters=20, eval_interval=10, sample_interval=0)
    values.update(over)
    return new_training(corpus, out, **values)


def done_reasons(run_dir: Path) -> list[DoneEvent]:
    return [e for e in read_records(run_dir / "metrics.jsonl") if isinstance(e, DoneEvent)]


def run(coro) -> None:
    asyncio.run(coro)


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


def test_training_dashboard_keys(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, train=tiny_train(corpus_file, out))
        async with app.run_test(size=(120, 36)) as pilot:
            dash = app.screen
            assert isinstance(dash, DashboardScreen)

            def state():
                return dash.view

            await wait_for(pilot, lambda: dash.live and len(state().evals) >= 1)
            assert dash.check_action("pause", ())
            await wait_for(pilot, lambda: "plus" in footer_keys(app))  # steering, in view
            await pilot.resize_terminal(80, 24)
            await wait_for(pilot, lambda: {"plus", "g"} <= footer_keys(app))  # 80 columns too
            await pilot.resize_terminal(120, 36)

            await pilot.press("p")
            await wait_for(pilot, lambda: "paused" in dash.status_line())
            await pilot.pause(1.0)
            frozen = state().iter
            await pilot.pause(1.0)
            assert state().iter == frozen  # paused means paused

            await pilot.press("t")  # sample now, even while paused
            await wait_for(pilot, lambda: len(state().samples) == 1)
            await pilot.press("c")  # save a checkpoint now
            await wait_for(
                pilot, lambda: getattr(state().checkpoints.get("last"), "iter", None) == frozen
            )

            await pilot.press("p")
            await wait_for(pilot, lambda: state().iter > frozen + 5)
            assert dash.status_line().startswith("running")

            await pilot.press("s")  # stop: saves last.pt
            await wait_for(pilot, lambda: state().done is not None and not app.training)
            assert state().done.reason == "stopped"
            assert load_checkpoint(out / "last.pt")["iter"] == state().done.iter
            await pilot.pause(1.0)
            assert not dash.check_action("pause", ())  # nothing left to steer

    run(scenario())


def test_generate_from_the_live_dashboard_uses_current_weights(
    corpus_file: Path, tmp_path: Path
) -> None:
    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, train=tiny_train(corpus_file, tmp_path / "run"))
        async with app.run_test(size=(120, 36)) as pilot:
            dash = app.screen
            await wait_for(pilot, lambda: dash.live and dash.view.iter > 20)
            pressed_at = dash.view.iter
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerateScreen))
            shown = re.search(r"iter ([\d,]+)", str(app.screen.label)).group(1)
            # Saved on request: the weights of that moment or later (evals save too).
            assert int(shown.replace(",", "")) >= pressed_at > 20
            await pilot.press("escape")  # back to the dashboard, training goes on
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("s")
            await wait_for(pilot, lambda: not app.training)

    run(scenario())


def test_quit_while_training_asks_then_saves(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, train=tiny_train(corpus_file, out))
        async with app.run_test(size=(100, 30)) as pilot:
            dash = app.screen
            await wait_for(pilot, lambda: dash.live and dash.view.iter > 10)
            await pilot.press("q")
            assert isinstance(app.screen, ChoiceScreen)
            await pilot.press("escape")  # changed my mind
            assert app.training
            await pilot.press("q")
            await pilot.click("#stop")
            await wait_for(pilot, lambda: not app.is_running, timeout=60)
        assert app.process.proc.returncode == 0
        done = done_reasons(out)
        assert done[-1].reason == "stopped"
        assert load_checkpoint(out / "last.pt")["iter"] == done[-1].iter

    run(scenario())


def test_quit_keep_training_exits_now_and_leaves_the_run_going(
    corpus_file: Path, tmp_path: Path
) -> None:
    app = CharLMApp(runs_dir=tmp_path, train=tiny_train(corpus_file, tmp_path / "run"))

    async def scenario() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.screen.live and app.screen.view.iter > 5)
            await pilot.press("q")
            await pilot.click("#leave")

    # Before the fix, the thread following the child kept the closing app alive until
    # the run ended (100,000 iterations): run the app on a thread we can time out.
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


def test_watch_steers_a_headless_run(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = train_argv(tiny_train(corpus_file, out))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def scenario() -> None:
        app = CharLMApp(watch=out)
        async with app.run_test(size=(100, 30)) as pilot:
            dash = app.screen
            await wait_for(pilot, lambda: dash.live and dash.view.iter > 5)
            await pilot.press("s")
            await wait_for(pilot, lambda: dash.view.done is not None)
            assert dash.view.done.reason == "stopped"

    try:
        run(scenario())
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_generate_streams_the_same_text_as_the_core_and_stops_on_escape(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=60, seed=7)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, GenerateScreen)
            await pilot.press(*"KING")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.running and len(screen.output) == 64)
            ids = screen.vocab.encode("KING")

            def expected(precision: str) -> str:
                gen = torch.Generator().manual_seed(7)
                decoder = decoder_for(screen.model, precision)
                tokens = generate(screen.model, ids, 60, SamplingParams(), gen, decoder=decoder)
                return "KING" + "".join(screen.vocab.chars[t] for t in tokens)

            label = screen.query_one("#gen-label")
            # decoded in a child process, to the same text as in this one
            assert screen.decoder is not None and screen.decoder.proc.pid != os.getpid()
            assert screen.output == expected(screen.precision)  # int8 by default on CPU
            assert screen.precision in str(label.render())
            assert "generated 60 characters" in str(screen.query_one("#gen-status").render())
            await pilot.press("ctrl+b")  # exact fp32 weights
            assert screen.precision == "fp32" and "fp32 weights" in str(label.render())
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.running and len(screen.output) == 64)
            assert screen.output == expected("fp32")

            screen.query_one("#max_new_tokens").value = "100000"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(screen.output) > 10)
            await pilot.press("escape")  # stop: the partial text stays
            await wait_for(pilot, lambda: not screen.running)
            assert 4 < len(screen.output) < 4 + 100000
            assert "stopped after" in str(screen.query_one("#gen-status").render())

            await pilot.press("ctrl+s")
            saved = list((ckpt.parent / "generations").glob("*.txt"))
            assert len(saved) == 1 and saved[0].read_text() == screen.output
            child = screen.decoder
            assert child is not None and child.alive
            await pilot.press("escape")  # back: the pane's decoder process ends with it
            await wait_for(pilot, lambda: not child.alive)

    run(scenario())


def test_unknown_prompt_characters_are_flagged_not_fatal(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            screen.query_one("#prompt").value = "KING€"  # as if pasted
            await pilot.pause()
            oov = screen.query_one("#oov")
            assert oov.has_class("visible") and "'€'" in str(oov.render())
            await pilot.press("enter")
            assert not screen.running and screen.output == ""
            await pilot.press("backspace")
            assert not oov.has_class("visible")
            top = screen.query_one("#next-char").top  # the view follows the prompt
            assert len(top) == 5 and 0.99 >= top[0][1] >= top[-1][1] > 0

    run(scenario())


def test_a_decoder_process_that_cannot_start_or_dies_is_a_status_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import charlm_tui.tui.screens.generate as pane

    ckpt = fake_run(tmp_path, "gen") / "best.pt"
    real = pane.DecoderProcess

    def refuse(model):
        raise CharLMError("cannot start the decoder process: [Errno 28] No space left on device")

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=20)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert screen.decoder is None  # refused at mount: the pane still opens
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.running)
            status = str(screen.query_one("#gen-status").render())
            assert status == "generation failed: cannot start the decoder process: [Errno 28] " \
                "No space left on device"  # fmt: skip
            monkeypatch.setattr(pane, "DecoderProcess", real)
            await pilot.press("enter")  # a fresh one once it can start
            await wait_for(pilot, lambda: not screen.running and len(screen.output) == 20)
            first = screen.decoder
            first.proc.kill()  # it died between generations: replaced before it is asked
            first.proc.wait()
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.running and len(screen.output) == 20)
            assert screen.decoder is not first and screen.decoder.alive
            screen.query_one("#max_new_tokens").value = "100000"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(screen.output) > 10)
            screen.decoder.proc.kill()  # it dies mid-generation: one status line
            await wait_for(pilot, lambda: not screen.running)
            status = str(screen.query_one("#gen-status").render())
            assert status == "generation failed: the decoder process exited with code -9"

    monkeypatch.setattr(pane, "DecoderProcess", refuse)
    run(scenario())


def test_bad_sampling_settings_are_explained(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            screen.query_one("#top_p").value = "2"
            screen.query_one("#seed").value = "x"
            await pilot.press("enter")
            assert not screen.running
            assert "settings marked in red" in str(screen.query_one("#gen-status").render())
            # Every invalid field says what is wrong, next to it, at once.
            assert "must be in (0, 1], not 2" in str(screen.query_one("#top_p-error").render())
            assert "must be a whole number" in str(screen.query_one("#seed-error").render())
            assert str(screen.query_one("#temperature-error").render()) == ""
            screen.query_one("#top_p").value = "abc"
            await pilot.pause()
            assert "must be a number" in str(screen.query_one("#top_p-error").render())

    run(scenario())


def test_new_run_form_validates_then_starts_training(corpus_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path / "runs")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("n")
            form = app.screen
            assert isinstance(form, NewRunScreen)
            form.query_one("#data").value = str(tmp_path / "missing.txt")
            await pilot.pause()
            assert form.query_one("#start").disabled
            assert "no such file" in str(form.query_one("#data-error").render())
            form.query_one("#data").value = str(corpus_file)
            form.query_one("#max_iters").value = "30"
            form.query_one("#lr").value = "-1"
            form.query_one("#batch_size").value = "many"
            await pilot.pause()
            # Both invalid fields at once, each beside its field, in the form's words.
            assert "must be greater than 0" in str(form.query_one("#lr-error").render())
            assert "must be a whole number" in str(form.query_one("#batch_size-error").render())
            assert str(form.query_one("#data-error").render()) == ""
            assert form.query_one("#start").disabled
            form.query_one("#batch_size").value = ""
            form.query_one("#lr").value = ""
            form.query_one("#name").value = "from-form"
            await pilot.pause()
            assert not form.query_one("#start").disabled
            await pilot.click("#start")
            await wait_for(pilot, lambda: app.process is not None and not app.training)
            assert app.process.proc.returncode == 0
            run_dir = tmp_path / "runs" / "from-form"
            done = done_reasons(run_dir)
            assert done[0].reason == "finished" and done[0].iter == 30
            assert (run_dir / "best.pt").is_file()

    run(scenario())


def test_resume_from_home(corpus_file: Path, tmp_path: Path) -> None:
    tiny_trainer(corpus_file, tmp_path / "run", max_iters=20).run()

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            assert [r.path.name for r in app.screen.runs] == ["run"]
            await pilot.press("r")
            await wait_for(pilot, lambda: app.process is not None and not app.training)
            # Resumed with the run's own settings: already at max_iters, so done at once.
            events = read_records(tmp_path / "run" / "metrics.jsonl")
            assert [e.resumed for e in events if isinstance(e, StartEvent)] == [False, True]
            assert app.process.proc.returncode == 0

    run(scenario())


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
            await wait_for(pilot, lambda: app.process is not None and not app.training)
            await pilot.pause(1.0)
            messages = [n.message for n in app._notifications]
            assert any("no such file" in m for m in messages), messages
            assert "failed: charlm-tui: error: no such file" in app.screen.status_line()
            assert app.is_running  # the app survived

    run(scenario())


def test_parse_form_mirrors_cli_validation(corpus_file: Path, tmp_path: Path) -> None:
    plan, errors, _ = parse_form(
        {"data": str(corpus_file), "max_iters": "12", "preset": "tiny"}, tmp_path
    )
    assert not errors and plan.tcfg.max_iters == 12 and plan.tcfg.time_budget is None
    plan, _, _ = parse_form(
        {"data": str(corpus_file), "time_budget": "30", "preset": "seed"}, tmp_path
    )
    assert plan.tcfg.time_budget == 30 and plan.tcfg.max_iters is None
    plan, errors, general = parse_form(
        {"data": str(corpus_file), "preset": "tiny", "lr": "1e-4", "name": "a/b"}, tmp_path
    )
    assert plan is None and "plain folder name" in errors["name"]
    plan, errors, general = parse_form(
        {"data": str(corpus_file), "preset": "tiny", "lr": "1e-4"}, tmp_path
    )
    assert plan is None and not errors and "--min-lr" in general  # a rule of two fields


def eval_event(it: int, val: float) -> EvalEvent:
    m = Metrics(val, 0.5, 0.9, 100)
    return EvalEvent(it, m, m, 1e-3, 1.0, 0.1, 1e4, 1.0, 0.5, 1.0, val, True)


def test_follower_waits_for_half_written_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    second = dump_line(record_of(eval_event(10, 3.0)))
    path.write_text(dump_line(record_of(eval_event(0, 4.0))) + second[:20])
    tail = JsonlTail(path)
    events, reset = tail.read()
    assert [e.iter for e in events] == [0] and not reset
    with path.open("a") as f:
        f.write(second[20:])
    more, _ = tail.read()
    assert [e.iter for e in more] == [10]
    view = RunView(tmp_path)
    assert view.update() and view.best_eval.iter == 10


def test_follower_sees_a_run_grow(corpus_file: Path, tmp_path: Path) -> None:
    view = RunView(tmp_path / "run")
    assert not view.update()  # nothing there yet: no crash
    tiny_trainer(corpus_file, tmp_path / "run", max_iters=40, eval_interval=20).run()
    assert view.update()
    assert [e.iter for e in view.evals] == [0, 20, 40]
    assert view.done.reason == "finished"


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


def test_every_key_of_the_screen_is_in_the_command_palette(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "alpha", iters=400)

    async def scenario() -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert {"Generate", "Back", "Quit", "Model tab"} <= titles
            assert "Pause/resume" not in titles  # nothing trains there: not offered

    run(scenario())


def test_model_tab_names_position_activation_and_optimizer() -> None:
    from rich.console import Console

    from charlm_tui.core.measures import LayerSummary
    from charlm_tui.tui.widgets.model_summary import summary_table

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
    assert "learned · gelu" in rendered({"model": "gpt"})  # a run from before the options
    assert "positions" not in rendered({"model": "bigram"})
    assert "muon · 0.003" in rendered({"model": "gpt"}, {"optimizer": "muon", "lr": 0.003})
    assert "adamw · 0.1" in rendered({"model": "bigram"}, {"lr": 0.1})  # before --optimizer


# -- issue 12: untrusted text, keys, small terminals, live numbers --------------------------

HOSTILE_TEXT = "\x1b]2;PWNED\x07abc\n\x1bc\x1b[31mred\x07\x08\r\x00 \u202eevil"


def hostile_run(root: Path, name: str = "[bold]run\x1b]2;PWNED\x07") -> Path:
    """A finished run whose folder, corpus, samples, layers and messages hold escape
    sequences and markup: what a run in a shared folder may hold."""
    run_dir = fake_run(root, name)
    config = json.loads((run_dir / "config.json").read_text())
    config["train"]["data"] = "/data/[/]evil\x1b]2;PWNED\x07.txt"
    (run_dir / "config.json").write_text(json.dumps(config))
    with (run_dir / "samples.jsonl").open("a") as f:
        f.write(dump_line(record_of(SampleEvent(400, "\n", HOSTILE_TEXT, 0.8, 4.0))))
    return run_dir


def no_raw_controls(svg: str) -> bool:
    return not any(ch in svg for ch in "\x1b\x07\x08\x00\u202e")


def test_untrusted_text_never_reaches_the_screen_raw(tmp_path: Path) -> None:
    run_dir = hostile_run(tmp_path)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            home = app.export_screenshot()
            assert no_raw_controls(home)
            assert "[bold]run\\x1b]2;PWNED\\x07" in home  # the name, literally, escaped
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await pilot.pause(0.6)
            dashboard = app.export_screenshot()
            assert no_raw_controls(dashboard)
            shown = "\n".join(line.text for line in app.screen.query_one("#samples").lines)
            assert "\\x1b]2;PWNED\\x07abc\n\\x1bc\\x1b[31mred\\x07\\x08\\r\\x00" in shown
            assert "[/]evil\\x1b]2;PWNED\\x07.txt" in app.screen.status_line()
            app.notify(f"no checkpoint in {run_dir} [/] yet")  # paths in notifications
            await pilot.pause()
            assert no_raw_controls(app.export_screenshot())

    run(scenario())


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


def footer_keys(app) -> set[str]:
    """The keys of the footer drawn wholly on the screen, none under the palette's key
    (docked at the right end, it covers whatever runs into it)."""
    from textual.widgets._footer import FooterKey

    width = app.screen.size.width
    keys = [k for k in app.screen.query(FooterKey) if k.region.width]
    palette = [k.region for k in keys if k.key == app.COMMAND_PALETTE_BINDING]
    return {
        k.key
        for k in keys
        if k.region.right <= width
        and (k.key == app.COMMAND_PALETTE_BINDING or not any(k.region.overlaps(r) for r in palette))
    }


def test_every_screen_shows_a_way_out_and_esc_goes_back(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario(size: tuple[int, int]) -> None:
        app = CharLMApp(runs_dir=tmp_path, generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, GenerateScreen)
            # The prompt takes q: ctrl+q. (At 60 columns the generate pane's footer keeps
            # esc; its ctrl+q follows four other keys there.)
            assert {"escape", "ctrl+q"} <= footer_keys(app) | (
                {"ctrl+q"} if size[0] < 80 else set()
            )
            await pilot.press("escape")  # idle: back, to home (always under it)
            assert isinstance(app.screen, HomeScreen)
            assert "q" in footer_keys(app)
            await pilot.press("escape")  # nothing behind home: esc never quits by surprise
            assert isinstance(app.screen, HomeScreen) and app.is_running
            await pilot.press("n")
            assert isinstance(app.screen, NewRunScreen)
            await pilot.pause()  # the footer recomposes for the new screen after the key
            assert {"escape", "ctrl+q"} <= footer_keys(app)
            await pilot.press("escape")
            await pilot.press("enter")
            assert isinstance(app.screen, DashboardScreen)
            await pilot.pause()
            assert {"escape", "q"} <= footer_keys(app)
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running

    for size in ((120, 36), (80, 24), (60, 20)):
        run(scenario(size))


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
            ):  # fmt: skip ([ and ] shorten and extend a run: issue 15
                await pilot.press(key)
                assert tabs.active == tab, key

    run(scenario())


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
            await pilot.pause(0.6)
            panel = app.screen.query_one("#metrics")
            table = str(panel.query_one("#metrics-table").render_line(0).text)
            assert "eval @400" in table and "best @400" in table
            step = str(panel.query_one("#step-line").render())
            assert "step 420" in step and "loss 1." in step
            timing = str(panel.query_one("#timing").render())
            assert "41.0k tok/s" in timing  # the latest step record's rate
            # 80 steps to the eval at 500, 30 to the sample at 450, at ~10-20 ms a step
            assert "next eval 00:01 · sample 00:00" in timing
            assert "ETA 00:09" in timing

    run(scenario())


def test_small_terminals_keep_samples_and_borders(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, "alpha")

    async def scenario(size: tuple[int, int]) -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.6)
            screen = app.screen
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


# -- lost keystrokes (Textual #6605) --------------------------------------------------------


async def type_in_one_read(input_cls, typed: str, read: str) -> str:
    """Type `typed`, then feed `read` as ONE terminal read: the parser's events are
    posted back to back, as the Linux driver's input thread does."""
    from textual._xterm_parser import XTermParser
    from textual.app import App

    class One(App):
        def compose(self):
            yield input_cls(id="field")

    app = One()
    async with app.run_test() as pilot:
        await pilot.press(*typed)
        for event in list(XTermParser().feed(read)):
            app.post_message(event)
        await pilot.pause()
        await pilot.pause()
        return app.query_one("#field").value


def test_ordered_input_keeps_keys_of_one_read_in_order() -> None:
    from charlm_tui.tui.widgets.inputs import OrderedInput

    assert asyncio.run(type_in_one_read(OrderedInput, "abc", "\x7fa")) == "aba"  # BSpace a
    assert asyncio.run(type_in_one_read(OrderedInput, "abc", "\x1b[Dx")) == "abxc"  # Left x


def test_a_stock_input_still_reorders_keys_of_one_read() -> None:
    """Textual 8.2.8's bug (#6605). When this fails, Textual fixed it: drop OrderedInput
    (tui/widgets/inputs.py) and use Input again."""
    from textual.widgets import Input

    assert asyncio.run(type_in_one_read(Input, "abc", "\x7fa")) != "aba"


def test_every_field_of_the_forms_keeps_keys_in_order(tmp_path: Path) -> None:
    from textual.widgets import Input

    from charlm_tui.tui.widgets.inputs import OrderedInput
    from charlm_tui.tui.widgets.sampling_fields import SamplingFields

    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=(100, 30)) as pilot:
            fields = list(app.screen.query_one(SamplingFields).query(Input))
            assert fields and all(isinstance(f, OrderedInput) for f in fields)
            await pilot.press("escape", "n")
            fields = list(app.screen.query(Input))
            assert fields and all(isinstance(f, OrderedInput) for f in fields)

    run(scenario())


# == Inspect (issue 15) and the next-character view (issue 12, items 5 and 6) ===============
# Kept together at the end of the file: another helper adds tests above.

from rich.cells import cell_len  # noqa: E402

from charlm_tui.core.decoding.inspect import Choice, inspect_text  # noqa: E402
from charlm_tui.core.decoding.options import Source  # noqa: E402
from charlm_tui.tui.messages import OpenInspect  # noqa: E402
from charlm_tui.tui.screens.inspect import InspectScreen, SurpriseView  # noqa: E402
from charlm_tui.tui.widgets.next_char import NextChar  # noqa: E402
from tests.conftest import make_text  # noqa: E402


def inspect_app(ckpt: Path, text: str) -> CharLMApp:
    return CharLMApp(inspect=OpenInspect(ckpt, Source(text=text, name="a play"), text))


def test_inspect_screen_cursor_panel_and_attention(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "r") / "best.pt"
    text = make_text(300, seed=2)

    async def scenario() -> None:
        app = inspect_app(ckpt, text)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
            await pilot.pause()
            screen = app.screen
            view = screen.query_one(SurpriseView)
            ins = screen.ins
            expected = inspect_text(screen.model, ins.vocab, text, ins.block_size)
            assert ins.mean_loss == pytest.approx(expected.mean_loss, abs=1e-9)
            assert f"{ins.bpc:.3f} bits/char" in screen.sub_title
            assert view.cursor == 1  # the first scored character
            await pilot.press("right", "right")
            assert view.cursor == 3
            cursor = str(screen.query_one("#inspect-cursor").render())
            assert f"p {ins.prob[3]:.1%} · rank {ins.rank[3]}" in cursor
            assert [c for c, _ in screen.query_one(NextChar).top] == [c for c, _ in ins.top(3)]
            await pilot.press("end")
            assert view.cursor == len(text) - 1
            await pilot.press("home")
            assert view.cursor == 0
            assert "first character" in str(screen.query_one("#inspect-cursor").render())
            await pilot.press("down")
            assert view.line_of[view.cursor] == 1
            await pilot.click(SurpriseView, offset=(1 + 4, 1))  # inside the border: line 0
            assert view.cursor == 4

            assert view.weights is None  # surprise colours
            await pilot.press("a")
            await pilot.pause()
            assert screen.view == "internals"
            assert sorted(view.weights) == list(ins.context(4))
            assert sum(view.weights.values()) == pytest.approx(1.0, abs=1e-5)
            assert "mean of 2 heads" in str(screen.query_one("#inspect-internals").render())
            await pilot.press("h")
            assert screen.head == 0
            assert "head 1 of 2" in str(screen.query_one("#inspect-internals").render())
            await pilot.press("right")  # the strip follows the cursor
            assert sorted(view.weights) == list(ins.context(5))
            await pilot.press("a")
            assert view.weights is None
            await pilot.press("escape")
            assert not isinstance(app.screen, InspectScreen)

    run(scenario())


def test_inspect_says_attention_does_not_apply_to_an_mlp(tmp_path: Path) -> None:
    from tests.test_inspect import checkpoint

    text = make_text(400, seed=4)
    ckpt = checkpoint(tmp_path / "mlp", text, "mlp")

    async def scenario() -> None:
        async with inspect_app(ckpt, text).run_test(size=(100, 30)) as pilot:
            app = pilot.app
            await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
            await pilot.pause()
            panel = str(app.screen.query_one("#inspect-internals").render())
            assert "attention does not apply" in panel
            await pilot.press("a")
            assert app.screen.view == "surprise"

    run(scenario())


def test_inspect_from_home_and_from_the_generate_pane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("play.txt").write_text(make_text(5000, seed=1), encoding="utf-8")  # fake_run's corpus
    fake_run(tmp_path / "runs", "r")

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path / "runs")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
            assert len(app.screen.ins) == 500  # the whole val split: 10% of 5000
            assert "val[0:2,000]" in str(app.screen.query_one("#inspect-label").render())
            await pilot.press("escape")
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerateScreen))
            gen = app.screen
            gen.query_one("#max_new_tokens").value = "40"
            await pilot.press(*"KING", "enter")
            await wait_for(pilot, lambda: not gen.running and len(gen.output) == 44)
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
            assert app.screen.ins.text == gen.output
            await pilot.press("escape")
            assert app.screen is gen

    run(scenario())


def test_next_char_view_follows_the_prompt_and_the_settings(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            panel = screen.query_one(NextChar)
            status = screen.query_one("#gen-status")
            await pilot.press(*"KING^")  # not in the vocabulary
            assert panel.choices == [] and "never saw '^'" in str(panel.render())
            await pilot.press("enter")
            assert "fix the prompt first" in str(status.render())
            await pilot.press("backspace")  # the prompt is fine again: so is everything
            oov = screen.query_one("#oov")
            assert not oov.has_class("visible") and str(oov.render()) == ""
            assert str(status.render()) == ""
            assert len(panel.choices) == 5 and "sample: temp 0.8" in str(panel.render())
            assert panel.choices[0].sampled > panel.choices[0].raw  # 0.8 sharpens
            screen.query_one("#temperature").value = "1"
            screen.query_one("#top_k").value = "2"
            await pilot.pause()
            two = panel.choices
            assert two[0].sampled + two[1].sampled == pytest.approx(1.0)
            assert two[2].sampled == 0 and two[2].raw > 0
            screen.query_one("#temperature").value = "0"
            await pilot.pause()
            assert [c.sampled for c in panel.choices] == [1.0, 0, 0, 0, 0]
            assert "greedy" in str(panel.render())
            screen.query_one("#prompt").value = ""
            await pilot.pause()  # no prompt: what generation starts from, a newline
            assert len(panel.choices) == 5 and "after ⏎" in str(panel.render())

    run(scenario())


def test_next_char_labels_and_bars_fit_at_80_columns(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(prompt="KING")))
        async with app.run_test(size=(80, 24)) as pilot:
            panel = app.screen.query_one(NextChar)
            panel.show(
                [
                    Choice("\u0301", 0.40, 0.55),  # a combining acute: blank before
                    Choice("👍", 0.30, 0.30),  # wide
                    Choice("\U0001f3fd", 0.15, 0.10),  # a skin tone: shifted its row
                    Choice("\x07", 0.10, 0.05),
                    Choice("\n", 0.05, 0.0),
                ],
                "sample: temp 0.8",
            )
            await pilot.pause()
            lines = str(panel.render()).splitlines()[2:]  # after the note and the header
            assert [line.split()[0] for line in lines] == ["◌\u0301", "👍", "\\U0001f3fd",
                                                           "\\x07", "⏎"]  # fmt: skip
            width = panel.size.width
            assert width >= 24
            # Columns line up in cells, every bar is shown whole, nothing overflows.
            ends = {cell_len(line[: line.index("%") + 1]) for line in lines}
            assert len(ends) == 1
            assert all(cell_len(line) <= width and "…" not in line for line in lines)
            assert all(set(line) & set("▏▎▍▌▋▊▉█") for line in lines[:4])  # p > 0: a bar

    run(scenario())


def test_generate_colours_characters_by_their_draw(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=50, seed=3)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            await pilot.press(*"KING", "enter")
            await wait_for(pilot, lambda: not screen.running and len(screen.output) == 54)
            chosen: list[float] = []
            gen = torch.Generator().manual_seed(3)
            ids = screen.vocab.encode("KING")
            decoder = decoder_for(screen.model, screen.precision)
            list(generate(screen.model, ids, 50, SamplingParams(), gen, decoder=decoder,
                          chosen=chosen))  # fmt: skip
            assert screen.picked == pytest.approx(chosen) and len(chosen) == 50
            await pilot.press("ctrl+o")
            shown = screen.query_one("#output").content
            assert shown.plain.startswith("KING") and len(shown.plain) >= 54
            assert any(" on #" in str(span.style) for span in shown.spans)
            await pilot.press("ctrl+o")
            shown = screen.query_one("#output").content
            assert not any(" on #" in str(span.style) for span in shown.spans)

    run(scenario())


# == Steering a live run from the dashboard (issue 15 §2) ==================================


def test_steering_keys_change_a_live_run(corpus_file: Path, tmp_path: Path) -> None:
    from charlm_tui.core.runs.events import SteerEvent
    from charlm_tui.tui.screens.steer import SteerScreen
    from charlm_tui.tui.widgets.metrics import timing_text

    out = tmp_path / "run"

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, train=tiny_train(corpus_file, out))
        async with app.run_test(size=(120, 36)) as pilot:
            dash = app.screen
            await wait_for(pilot, lambda: dash.live and dash.view.iter > 3)

            def steered() -> dict:
                return {e.field: e.new for e in dash.view.steers}

            await pilot.press("plus")  # lr x1.25
            await wait_for(pilot, lambda: steered().get("lr_scale") == 1.25)
            await pilot.press("minus", "minus")  # /1.25 twice
            await wait_for(pilot, lambda: steered().get("lr_scale") == pytest.approx(0.8))
            await pilot.press("right_square_bracket")  # 10% longer
            await wait_for(pilot, lambda: steered().get("max_iters") == 110_000)
            await pilot.press("e")
            assert isinstance(app.screen, SteerScreen)
            field = app.screen.query_one("#eval_interval")
            field.value = "0"
            await pilot.pause()
            assert "must be in" in str(app.screen.query_one("#eval_interval-error").render())
            field.value = "7"
            await pilot.press("enter")
            await wait_for(pilot, lambda: steered().get("eval_interval") == 7)
            await pilot.press("m")
            app.screen.query_one("#sample_temperature").value = "1.3"
            await pilot.press("enter")
            await wait_for(pilot, lambda: steered().get("sample_temperature") == 1.3)
            assert "steered @" in str(timing_text(dash.view))
            await pilot.press("s")
            await wait_for(pilot, lambda: not app.training)
        events = read_records(out / "metrics.jsonl")
        fields = [e.field for e in events if isinstance(e, SteerEvent)]
        assert fields.count("lr_scale") == 3 and "max_iters" in fields
        assert load_checkpoint(out / "last.pt")["config"]["train"]["eval_interval"] == 7

    run(scenario())


def test_covered_screens_stop_redrawing_and_catch_up_when_uncovered(tmp_path: Path) -> None:
    # A covered home or dashboard redrawing every poll cost the training child
    # process steps on 2 cores (bench/tui_overhead.py: 0.84 -> 0.93 of headless).
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
