"""The new-run form: validation beside each field, the same rules as the CLI, starting."""

from __future__ import annotations

from pathlib import Path

from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.screens.new_run import NewRunScreen, parse_form
from tests.tui_helpers import done_reasons, fake_run, run
from tests.waiting import wait_for


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
            await wait_for(
                pilot,
                lambda: app.process is not None and not app.training,
                "the training process to exit",
            )
            assert app.process.proc.returncode == 0
            run_dir = tmp_path / "runs" / "from-form"
            done = done_reasons(run_dir)
            assert done[0].reason == "finished" and done[0].iter == 30
            assert (run_dir / "best.pt").is_file()

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
    fake_run(tmp_path, "taken")
    plan, errors, general = parse_form(
        {"data": str(corpus_file), "preset": "tiny", "name": "taken"}, tmp_path
    )
    assert plan is None and "resume it from home (r)" in errors["name"]
    assert "--" not in errors["name"] + general  # no CLI flag inside the TUI
    plan, errors, general = parse_form(
        {"data": str(corpus_file), "preset": "tiny", "lr": "1e-4"}, tmp_path
    )
    assert plan is None and not errors and "--min-lr" in general  # a rule of two fields
