"""Across screens: the command palette, a way out of every screen, untrusted text escaped."""

from __future__ import annotations

import json
from pathlib import Path

from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.runs.events import SampleEvent, record_of
from charlm_tui.core.runs.records import dump_line
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.screens.compare import CompareScreen
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.screens.new_run import NewRunScreen
from tests.tui_helpers import FIXED_TIME, fake_run, footer_cut, footer_keys, opened, run
from tests.waiting import wait_for


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


def test_every_screen_shows_a_way_out_and_esc_goes_back(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario(size: tuple[int, int]) -> None:
        app = CharLMApp(runs_dir=tmp_path, generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=size) as pilot:

            async def footer_whole() -> None:  # no key cut ("c C") or under the palette's
                await pilot.pause()
                await wait_for(pilot, lambda: not footer_cut(app), f"a whole footer at {size}")

            await opened(pilot, app, GenerateScreen)
            await footer_whole()
            # The prompt takes q: ctrl+q. (At 60 columns the generate pane's footer keeps
            # esc; its ctrl+q follows four other keys there.)
            assert {"escape", "ctrl+q"} <= footer_keys(app) | (
                {"ctrl+q"} if size[0] < 80 else set()
            )
            await pilot.press("escape")  # idle: back, to home (always under it)
            assert isinstance(app.screen, HomeScreen)
            await footer_whole()
            assert "q" in footer_keys(app)
            await pilot.press("escape")  # nothing behind home: esc never quits by surprise
            assert isinstance(app.screen, HomeScreen) and app.is_running
            await pilot.press("n")
            assert isinstance(app.screen, NewRunScreen)
            await footer_whole()  # the footer recomposes for the new screen after the key
            assert {"escape", "ctrl+q"} <= footer_keys(app)
            await pilot.press("escape")
            await pilot.press("enter")
            assert isinstance(app.screen, DashboardScreen)
            await footer_whole()
            assert {"escape", "q"} <= footer_keys(app)
            await pilot.press("escape")
            await pilot.press("c")  # the ladder or the marked runs: none, so mark one
            await pilot.press("space", "c")
            assert isinstance(app.screen, CompareScreen)
            await footer_whole()
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running

    for size in ((120, 36), (80, 24), (60, 20)):
        run(scenario(size))


# -- untrusted text -----------------------------------------------------------------------


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
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")

            def samples_shown() -> str:
                return "\n".join(line.text for line in app.screen.query_one("#samples").lines)

            await wait_for(
                pilot, lambda: "PWNED" in samples_shown(), "the hostile sample on the samples pane"
            )
            await pilot.pause()
            dashboard = app.export_screenshot()
            assert no_raw_controls(dashboard)
            shown = samples_shown()
            assert "\\x1b]2;PWNED\\x07abc\n\\x1bc\\x1b[31mred\\x07\\x08\\r\\x00" in shown
            assert "[/]evil\\x1b]2;PWNED\\x07.txt" in app.screen.status
            app.notify(f"no checkpoint in {run_dir} [/] yet")  # paths in notifications
            await pilot.pause()
            assert no_raw_controls(app.export_screenshot())

    run(scenario())
