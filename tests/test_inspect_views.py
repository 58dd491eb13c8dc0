"""The inspect screen's logit lens (`g`) and embedding map (`m`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from charlm_tui.core.decoding.embeddings import embedding_map
from charlm_tui.core.decoding.inspect import lens_probs, no_lens
from charlm_tui.core.decoding.options import Source
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.messages import OpenInspect
from charlm_tui.tui.screens.inspect import (
    EmbeddingMapView,
    InspectScreen,
    SurpriseView,
    guess_form,
    lens_table,
)
from charlm_tui.tui.widgets.next_char import NextChar
from tests.conftest import make_text
from tests.test_inspect import checkpoint
from tests.tui_helpers import run
from tests.waiting import wait_for


def inspect_app(ckpt: Path, text: str) -> CharLMApp:
    return CharLMApp(inspect=OpenInspect(ckpt, Source(text=text, name="a play"), text))


async def opened(pilot) -> InspectScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen")
    await pilot.pause()
    return app.screen


def panel_text(screen: InspectScreen) -> str:
    return str(screen.query_one("#inspect-internals").render())


def map_lines(screen: InspectScreen) -> list[str]:
    shown = screen.query_one(EmbeddingMapView)
    return [shown.render_line(y).text for y in range(shown.size.height)]


def test_the_lens_shows_each_blocks_guesses_and_ends_in_the_models_own(tmp_path: Path) -> None:
    text = make_text(300, seed=2)
    ckpt = checkpoint(tmp_path / "gpt", text, "gpt")  # two blocks

    async def scenario() -> None:
        async with inspect_app(ckpt, text).run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot)
            ins, view = screen.ins, screen.query_one(SurpriseView)
            await pilot.press(*["right"] * 20, "g")  # the second window: a new forward
            assert screen.view == "lens"
            n = view.cursor
            assert n == 21 and ins.window(n)[0] == 1
            await wait_for(pilot, lambda: "model's own" in panel_text(screen), "the lens")
            assert not screen.query_one(NextChar).display  # the lens's last row says it
            rows = panel_text(screen).splitlines()[1:-1]
            # What each block would guess, read here independently of the screen.
            start = ins.window(n)[1]
            window = torch.from_numpy(ins.ids[start : start + ins.block_size].astype(np.int64))
            probs = lens_probs(screen.model, window[None])[:, n - 1 - start]
            assert len(rows) == probs.shape[0] == 2
            for b, row in enumerate(rows):
                top = probs[b].topk(3)
                expected = [ins.vocab.chars[i] for i in top.indices.tolist()]
                fields = row.split()
                assert fields[0] == str(b + 1)
                assert fields[1::2] == [guess_form(c) for c in expected], row
                assert fields[2] == f"{float(top.values[0]):.0%}"
            own_char, own_p = ins.top(n)[0]
            assert rows[-1].split()[1:3] == [guess_form(own_char), f"{own_p:.0%}"]
            await pilot.press("right")  # the lens follows the cursor
            await wait_for(
                pilot, lambda: panel_text(screen).splitlines()[1:-1] != rows, "the next lens"
            )
            assert panel_text(screen).splitlines()[-2].split()[1] == guess_form(ins.top(22)[0][0])
            await pilot.press("g")
            assert screen.view == "surprise" and screen.query_one(NextChar).display

    run(scenario())


def test_the_map_shows_the_vowels_of_a_tiny_corpus_and_marks_the_cursor(tmp_path: Path) -> None:
    text = "the cat sat on a mat; a dog ate it, oh! we go up.\n" * 8
    ckpt = checkpoint(tmp_path / "gpt", text, "gpt")

    async def scenario() -> None:
        async with inspect_app(ckpt, text).run_test(size=(80, 24)) as pilot:
            screen = await opened(pilot)
            assert not screen.query_one(EmbeddingMapView).display
            await pilot.press("right", "m")  # the cursor on "e"
            assert screen.map_shown
            shown = screen.query_one(EmbeddingMapView)
            await wait_for(pilot, lambda: shown.emap is not None, "the map")
            await pilot.pause()
            assert not screen.query_one(SurpriseView).display
            assert shown.emap == embedding_map(screen.model, screen.ins.vocab)
            lines = map_lines(screen)
            assert lines[0].lstrip(" │╭").startswith("character embeddings, PCA:")
            drawn = "".join(lines[1:])
            assert set("aeiou") <= set(drawn), lines
            legend = str(screen.query_one("#inspect-legend").render())
            assert "vowel" in legend and "punctuation" in legend
            strip = [s for y in range(shown.size.height) for s in shown.render_line(y)]
            marked = [s.text for s in strip if s.style and s.style.reverse]
            assert marked == ["e"]  # the character at the cursor
            assert screen.check_action("toggle_lens", ()) is False  # the text is hidden
            await pilot.press("escape")  # back to the text, not out of the screen
            assert isinstance(pilot.app.screen, InspectScreen) and not screen.map_shown
            assert screen.query_one(SurpriseView).display
            await pilot.press("right")  # the text has the keys again
            assert screen.query_one(SurpriseView).cursor == 3

    run(scenario())


def test_a_model_without_a_residual_stream_says_so_in_one_line(tmp_path: Path) -> None:
    text = make_text(400, seed=4)
    ckpt = checkpoint(tmp_path / "lstm", text, "lstm")

    async def scenario() -> None:
        async with inspect_app(ckpt, text).run_test(size=(60, 20)) as pilot:
            screen = await opened(pilot)
            await pilot.press("right", "g")
            assert screen.view == "lens"
            await pilot.pause()
            said = panel_text(screen)
            assert said == no_lens(screen.model)  # one line, in place of the lens
            assert said.endswith("residual stream: a lstm model has none") and "\n" not in said
            await pilot.press("m")  # its embedding table still has a map
            shown = screen.query_one(EmbeddingMapView)
            await wait_for(pilot, lambda: shown.emap is not None, "the map")

    run(scenario())


def test_an_escape_in_the_vocabulary_never_reaches_the_screen_raw(tmp_path: Path) -> None:
    text = ("ab\x1bc de\x07f\n" * 20)[:200]
    ckpt = checkpoint(tmp_path / "gpt", text, "gpt")
    table = lens_table([[("\x1b", 0.5), ("\x07", 0.2), (" ", 0.1)]], "\x1b")
    assert "\x1b" not in table.plain and "\\x1b" in table.plain and "\\x07 " in table.plain

    async def scenario() -> None:
        async with inspect_app(ckpt, text).run_test(size=(80, 24)) as pilot:
            screen = await opened(pilot)
            await pilot.press(*["right"] * 2, "g")  # the cursor on the escape
            await wait_for(pilot, lambda: "model's own" in panel_text(screen), "the lens")
            await pilot.pause()
            shot = pilot.app.export_screenshot()
            assert "\x1b" not in shot and "\x07" not in shot
            assert "\\x1b" in shot  # shown, as an escape
            await pilot.press("m")
            shown = screen.query_one(EmbeddingMapView)
            await wait_for(pilot, lambda: shown.emap is not None, "the map")
            await pilot.pause()
            assert "\x1b" in shown.emap.chars
            drawn = "".join(map_lines(screen))
            assert "\x1b" not in drawn and "\x07" not in drawn
            shot = pilot.app.export_screenshot()
            assert "\x1b" not in shot and "\x07" not in shot

    run(scenario())


def test_a_diverged_table_says_why_there_is_no_map(tmp_path: Path) -> None:
    text = make_text(300, seed=2)
    ckpt = checkpoint(tmp_path / "gpt", text, "gpt")

    async def scenario() -> None:
        async with inspect_app(ckpt, text).run_test(size=(80, 24)) as pilot:
            screen = await opened(pilot)
            with torch.no_grad():
                screen.model.wte.weight[3, 0] = float("nan")  # as a diverged run leaves it
            await pilot.press("m")
            shown = screen.query_one(EmbeddingMapView)
            await wait_for(pilot, lambda: shown.message.startswith("no map"), "the reason")
            assert shown.emap is None
            assert "holds NaN or inf (a diverged run)" in "".join(map_lines(screen))

    run(scenario())
