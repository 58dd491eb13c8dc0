"""Pilot tests: every screen and key action, driven as a user would."""

from __future__ import annotations

import asyncio
from pathlib import Path

import torch

from core.checkpoint import load_checkpoint
from core.config import build_configs
from core.sampling import SamplingParams, generate
from core.train import prepare
from tests.tui_helpers import FIXED_TIME, fake_run, wait_for
from tui.app import CharLMApp
from tui.screens.dashboard import DashboardScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.generate import GenerateScreen
from tui.screens.home import HomeScreen
from tui.screens.new_run import NewRunScreen, parse_form
from tui.state import FileFeed, RunState, _Tail


def tiny_trainer(corpus: Path, out: Path, **over):
    values = dict(
        data=str(corpus), max_iters=100_000, eval_interval=50, sample_interval=0, log_interval=1
    )
    values.update(over)
    mcfg, tcfg = build_configs("tiny", values)
    return prepare(mcfg, tcfg, out)


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
            assert isinstance(dash, DashboardScreen) and isinstance(dash.feed, FileFeed)
            assert dash.feed.state.iter == 400 and len(dash.feed.state.evals) == 5
            assert not dash.live and not app.screen.check_action("pause", ())
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("g")  # open the selected run's checkpoint to generate
            assert isinstance(app.screen, GenerateScreen)

    run(scenario())


def test_training_dashboard_keys(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    trainer = tiny_trainer(corpus_file, out)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, trainer=trainer)
        async with app.run_test(size=(120, 36)) as pilot:
            session = app.session
            dash = app.screen
            assert isinstance(dash, DashboardScreen) and dash.live
            await wait_for(pilot, lambda: len(dash.feed.state.evals) >= 1)

            await pilot.press("p")
            assert session.paused and session.status == "paused"
            await pilot.pause(0.3)
            frozen = trainer.iter
            await pilot.pause(0.5)
            assert trainer.iter == frozen  # paused means paused

            await pilot.press("t")  # sample now, even while paused
            await wait_for(pilot, lambda: len(dash.feed.state.samples) == 1)
            await pilot.press("c")  # save a checkpoint now
            await wait_for(
                pilot, lambda: dash.feed.state.checkpoints.get("last", {}).get("iter") == frozen
            )

            await pilot.press("p")
            await wait_for(pilot, lambda: trainer.iter > frozen + 5)
            assert session.status == "training"

            await pilot.press("s")  # stop: saves last.pt
            await wait_for(pilot, lambda: not session.running)
            assert session.done.reason == "stopped"
            assert load_checkpoint(out / "last.pt")["iter"] == session.done.iter
            await pilot.pause(0.4)
            assert dash.feed.state.done["reason"] == "stopped"  # the final state reached the UI
            assert not dash.check_action("pause", ())

    run(scenario())


def test_generate_from_the_live_dashboard_uses_current_weights(
    corpus_file: Path, tmp_path: Path
) -> None:
    trainer = tiny_trainer(corpus_file, tmp_path / "run")

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, trainer=trainer)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: trainer.iter > 20)
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerateScreen))
            assert "iter" in str(app.screen.label)
            await pilot.press("escape")  # back to the dashboard, training goes on
            assert isinstance(app.screen, DashboardScreen)
            app.session.stop()
            await wait_for(pilot, lambda: not app.session.running)

    run(scenario())


def test_quit_while_training_asks_then_saves_and_joins(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    trainer = tiny_trainer(corpus_file, out)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, trainer=trainer)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: trainer.iter > 10)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # keep training
            assert app.session.running
            await pilot.press("q")
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.session.running)
        assert app.session.worker.is_finished
        assert app.session.done.reason == "stopped"
        assert (out / "last.pt").is_file()

    run(scenario())


def test_generate_streams_the_same_text_as_the_core_and_stops_on_escape(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=dict(path=ckpt, max_new=60, seed=7))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, GenerateScreen)
            await pilot.press(*"KING")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.running and len(screen.output) == 64)
            ids = screen.vocab.encode("KING")
            expected = "".join(
                screen.vocab.chars[t]
                for t in generate(
                    screen.model, ids, 60, SamplingParams(), torch.Generator().manual_seed(7)
                )
            )
            assert screen.output == "KING" + expected
            assert "generated 60 characters" in str(screen.query_one("#gen-status").render())

            screen.query_one("#max_new").value = "100000"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(screen.output) > 10)
            await pilot.press("escape")  # stop: the partial text stays
            await wait_for(pilot, lambda: not screen.running)
            assert 4 < len(screen.output) < 4 + 100000
            assert "stopped after" in str(screen.query_one("#gen-status").render())

            await pilot.press("ctrl+s")
            saved = list((ckpt.parent / "generations").glob("*.txt"))
            assert len(saved) == 1 and saved[0].read_text() == screen.output

    run(scenario())


def test_unknown_prompt_characters_are_flagged_not_fatal(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=dict(path=ckpt))
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


def test_bad_sampling_settings_are_explained(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=dict(path=ckpt))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            screen.query_one("#top_p").value = "2"
            await pilot.press("enter")
            assert "--top-p must be in (0, 1]" in str(screen.query_one("#gen-status").render())
            screen.query_one("#top_p").value = "abc"
            await pilot.press("enter")
            assert "top-p must be a number" in str(screen.query_one("#gen-status").render())

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
            assert "no such file" in str(form.query_one("#form-error").render())
            form.query_one("#data").value = str(corpus_file)
            form.query_one("#max_iters").value = "30"
            form.query_one("#lr").value = "-1"
            await pilot.pause()
            assert "--lr must be greater than zero" in str(form.query_one("#form-error").render())
            form.query_one("#lr").value = ""
            form.query_one("#name").value = "from-form"
            await pilot.pause()
            assert not form.query_one("#start").disabled
            await pilot.click("#start")
            await wait_for(pilot, lambda: app.session is not None and not app.session.running)
            assert app.session.done.reason == "finished" and app.session.done.iter == 30
            assert (tmp_path / "runs" / "from-form" / "best.pt").is_file()

    run(scenario())


def test_resume_from_home(corpus_file: Path, tmp_path: Path) -> None:
    trainer = tiny_trainer(corpus_file, tmp_path / "run", max_iters=20)
    trainer.run()

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            app.screen.runs[0].path  # noqa: B018 - the run is listed
            await pilot.press("r")
            await wait_for(pilot, lambda: app.session is not None)
            await wait_for(pilot, lambda: not app.session.running)
            # Resumed with the run's own settings: already at max_iters, so done at once.
            assert app.session.done.reason == "finished" and app.session.done.iter == 20

    run(scenario())


def test_worker_errors_become_notifications_not_crashes(
    corpus_file: Path, tmp_path: Path, monkeypatch
) -> None:
    trainer = tiny_trainer(corpus_file, tmp_path / "run")

    def broken_step():
        raise RuntimeError("simulated failure in the training loop")

    monkeypatch.setattr(trainer, "_step", broken_step)

    async def scenario() -> None:
        app = CharLMApp(runs_dir=tmp_path, trainer=trainer)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: not app.session.running)
            await pilot.pause(0.2)
            assert app.session.status == "failed"
            messages = [n.message for n in app._notifications]
            assert any("simulated failure" in m for m in messages)
            assert app.is_running  # the app survived

    run(scenario())


def test_parse_form_mirrors_cli_validation(corpus_file: Path) -> None:
    new = parse_form({"data": str(corpus_file), "max_iters": "12"}, "tiny")
    assert new.tcfg.max_iters == 12 and new.tcfg.time_budget is None
    new = parse_form({"data": str(corpus_file), "time_budget": "30"}, "seed")
    assert new.tcfg.time_budget == 30 and new.tcfg.max_iters is None


def test_follower_waits_for_half_written_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"event": "eval", "iter": 0, "val_loss": 4.0}\n{"event": "ev')
    tail = _Tail(path)
    records, reset = tail.read()
    assert [r["iter"] for r in records] == [0] and not reset
    with path.open("a") as f:
        f.write('al", "iter": 10, "val_loss": 3.0}\n')
    records, _ = tail.read()
    assert [r["iter"] for r in records] == [10]
    state = RunState()
    state.apply_all([{"event": "eval", "iter": 0, "val_loss": 4.0}, *records])
    assert state.best_eval["iter"] == 10


def test_follower_sees_a_run_grow(corpus_file: Path, tmp_path: Path) -> None:
    feed = FileFeed(tmp_path / "run")
    assert not feed.update()  # nothing there yet: no crash
    trainer = tiny_trainer(corpus_file, tmp_path / "run", max_iters=40, eval_interval=20)
    trainer.run()
    assert feed.update()
    assert [e["iter"] for e in feed.state.evals] == [0, 20, 40]
    assert feed.state.done["reason"] == "finished"
