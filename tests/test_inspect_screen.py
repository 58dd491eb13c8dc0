"""The inspect screen: surprise colours, the cursor's panel, attention, and opening it."""

from __future__ import annotations

from pathlib import Path

import pytest

from charlm_tui.core.decoding.inspect import inspect_text
from charlm_tui.core.decoding.options import Source
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.messages import OpenInspect
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.screens.inspect import InspectScreen, SurpriseView, cell_form
from charlm_tui.tui.widgets.next_char import NextChar
from tests.conftest import make_text
from tests.tui_helpers import fake_run, run
from tests.waiting import wait_for


def inspect_app(ckpt: Path, text: str) -> CharLMApp:
    return CharLMApp(inspect=OpenInspect(ckpt, Source(text=text, name="a play"), text))


def test_inspect_screen_cursor_panel_and_attention(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "r") / "best.pt"
    text = make_text(300, seed=2)

    async def scenario() -> None:
        app = inspect_app(ckpt, text)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen"
            )
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
            await wait_for(
                pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen"
            )
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
            await wait_for(
                pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen"
            )
            assert len(app.screen.ins) == 500  # the whole val split: 10% of 5000
            assert "val[0:2,000]" in str(app.screen.query_one("#inspect-label").render())
            await pilot.press("escape")
            await pilot.press("g")
            await wait_for(
                pilot, lambda: isinstance(app.screen, GenerateScreen), "the generate pane"
            )
            gen = app.screen
            gen.query_one("#max_new_tokens").value = "40"
            await pilot.press(*"KING", "enter")
            await wait_for(
                pilot,
                lambda: not gen.running and len(gen.output.text) == 44,
                "44 characters generated",
            )
            await pilot.press("ctrl+l")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, InspectScreen),
                "the inspect screen on the generated text",
            )
            assert app.screen.ins.text == gen.output.text
            await pilot.press("escape")
            assert app.screen is gen

    run(scenario())


def test_the_screen_says_which_characters_it_left_out(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "r") / "best.pt"
    text = make_text(100, seed=2)

    async def scenario() -> None:
        app = inspect_app(ckpt, text[:50] + "€" + text[50:])
        async with app.run_test(size=(200, 30)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen"
            )
            screen = app.screen
            assert screen.ins.text == text and screen.ins.unseen == ((50, "€"),)
            label = str(screen.query_one("#inspect-label").render())
            assert "1 character(s) left out, never seen by the model: '€'" in label

    run(scenario())


def test_the_text_shows_unseen_characters_in_place_and_the_legend_counts_them(
    tmp_path: Path,
) -> None:
    from rich.style import Style

    from charlm_tui.core.text.display import char_label
    from charlm_tui.tui.console import UNSEEN_STYLE

    ckpt = fake_run(tmp_path, "r") / "best.pt"
    text = make_text(100, seed=2)

    async def scenario() -> None:
        app = inspect_app(ckpt, text[:20] + "€" + text[20:])
        async with app.run_test(size=(60, 20)) as pilot:  # the narrowest layout
            await wait_for(
                pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen"
            )
            await pilot.pause()
            screen = app.screen
            view = screen.query_one(SurpriseView)
            segments = [s for y in range(view.size.height) for s in view.render_line(y)]
            shown = "".join(s.text for s in segments)
            before = "".join(cell_form(ch) for ch in text[15:20])
            assert before + "€" + cell_form(text[20]) in shown  # in place, in its neighbours
            (mark,) = [s.style for s in segments if s.text == "€"]
            assert mark == view.rich_style + Style.parse(UNSEEN_STYLE)  # marked, not scored
            legend = screen.query_one("#inspect-legend")
            lines = [legend.render_line(y).text for y in range(legend.size.height)]
            assert any("never seen: left out" in line for line in lines), lines
            assert any("1 character left out" in line for line in lines), lines
            await pilot.press(*["right"] * 19)  # the cursor steps over it: not scored
            assert view.cursor == 20
            cursor = str(screen.query_one("#inspect-cursor").render())
            assert cursor.startswith(char_label(text[20]))

    run(scenario())


def test_up_and_down_go_past_lines_of_characters_the_model_never_saw(tmp_path: Path) -> None:
    """A wrapped line of nothing but unseen characters has no place for the cursor: Up
    and Down go past it to the next line with a scored character."""
    ckpt = fake_run(tmp_path, "r") / "best.pt"
    text = make_text(100, seed=2)
    first, last = text[:8].replace("\n", " ") + "\n", text[40:60].replace("\n", " ")

    async def scenario() -> None:
        app = inspect_app(ckpt, first + "€" * 200 + last)
        async with app.run_test(size=(60, 20)) as pilot:
            await wait_for(
                pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen"
            )
            await pilot.pause()
            view = app.screen.query_one(SurpriseView)
            view.focus()
            end = len(view.ins.text) - 1
            view.cursor = end  # on the last line, below the lines of euros
            await pilot.pause()
            assert int(view.line_of[end]) >= 3  # the euros wrap over several lines
            await pilot.press(*["up"] * len(view.lines))
            assert int(view.line_of[view.cursor]) == 0  # past them, up to the first line
            await pilot.press(*["down"] * len(view.lines))
            assert int(view.line_of[view.cursor]) == int(view.line_of[end])

    run(scenario())
