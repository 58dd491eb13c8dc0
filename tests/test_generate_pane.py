"""The generate pane and its next-character view.

Streaming, stopping, bad settings and prompts, the decoder process, colours by draw."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from rich.cells import cell_len

from charlm_tui.core.decoding.inspect import Choice
from charlm_tui.core.decoding.options import GenerateOptions, SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.quant import decoder_for
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.screens.generate import GenerateScreen
from charlm_tui.tui.widgets.next_char import NextChar
from tests.tui_helpers import fake_run, opened, run
from tests.waiting import wait_for

# -- generating ---------------------------------------------------------------------------


def test_generate_streams_the_same_text_as_the_core_and_stops_on_escape(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=60, seed=7)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            assert isinstance(screen, GenerateScreen)
            await pilot.press(*"KING")
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: not screen.running and len(screen.output.text) == 64,
                "64 characters generated",
            )
            ids = screen.vocab.encode("KING")

            def expected(precision: str) -> str:
                gen = torch.Generator().manual_seed(7)
                decoder = decoder_for(screen.model, precision)
                tokens = generate(screen.model, ids, 60, SamplingParams(), gen, decoder=decoder)
                return "KING" + "".join(screen.vocab.chars[t] for t in tokens)

            label = screen.query_one("#gen-label")
            # decoded in a child process, to the same text as in this one
            assert (
                screen.output.decoder is not None and screen.output.decoder.proc.pid != os.getpid()
            )
            assert screen.output.text == expected(screen.precision)  # int8 by default on CPU
            assert screen.precision in str(label.render())
            assert "generated 60 characters" in str(screen.query_one("#gen-status").render())
            await pilot.press("ctrl+b")  # exact fp32 weights
            assert screen.precision == "fp32" and "fp32 weights" in str(label.render())
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: not screen.running and len(screen.output.text) == 64,
                "64 characters generated in fp32",
            )
            assert screen.output.text == expected("fp32")

            screen.query_one("#max_new_tokens").value = "100000"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(screen.output.text) > 10, "the first 10 characters")
            await pilot.press("escape")  # stop: the partial text stays
            await wait_for(pilot, lambda: not screen.running, "the generation to stop")
            assert 4 < len(screen.output.text) < 4 + 100000
            assert "stopped after" in str(screen.query_one("#gen-status").render())

            await pilot.press("ctrl+s")
            saved = list((ckpt.parent / "generations").glob("*.txt"))
            assert len(saved) == 1 and saved[0].read_text() == screen.output.text
            child = screen.output.decoder
            assert child is not None and child.alive
            await pilot.press("escape")  # back: the pane's decoder process ends with it
            await wait_for(pilot, lambda: not child.alive, "the decoder process to exit")

    run(scenario())


def test_unknown_prompt_characters_are_flagged_not_fatal(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            screen.query_one("#prompt").value = "KING€"  # as if pasted
            await pilot.pause()
            oov = screen.query_one("#oov")
            assert oov.has_class("visible") and "'€'" in str(oov.render())
            await pilot.press("enter")
            assert not screen.running and screen.output.text == ""
            await pilot.press("backspace")
            assert not oov.has_class("visible")
            top = screen.query_one("#next-char").top  # the view follows the prompt
            assert len(top) == 5 and 0.99 >= top[0][1] >= top[-1][1] > 0

    run(scenario())


def test_a_decoder_process_that_cannot_start_or_dies_is_a_status_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import charlm_tui.core.decoding.decoder_process as pane

    ckpt = fake_run(tmp_path, "gen") / "best.pt"
    real = pane.DecoderProcess

    def refuse(model):
        raise CharLMError("cannot start the decoder process: [Errno 28] No space left on device")

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=20)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            assert screen.output.decoder is None  # refused at mount: the pane still opens
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.running, "the failed generation to end")
            status = str(screen.query_one("#gen-status").render())
            assert status == "generation failed: cannot start the decoder process: [Errno 28] " \
                "No space left on device"  # fmt: skip
            monkeypatch.setattr(pane, "DecoderProcess", real)
            await pilot.press("enter")  # a fresh one once it can start
            await wait_for(
                pilot,
                lambda: not screen.running and len(screen.output.text) == 20,
                "20 characters generated",
            )
            first = screen.output.decoder
            first.proc.kill()  # it died between generations: replaced before it is asked
            first.proc.wait()
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: not screen.running and len(screen.output.text) == 20,
                "20 characters from a new decoder",
            )
            assert screen.output.decoder is not first and screen.output.decoder.alive
            screen.query_one("#max_new_tokens").value = "100000"
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(screen.output.text) > 10, "the first 10 characters")
            screen.output.decoder.proc.kill()  # it dies mid-generation: one status line
            await wait_for(
                pilot, lambda: not screen.running, "the generation to end with the dead decoder"
            )
            status = str(screen.query_one("#gen-status").render())
            assert status == "generation failed: the decoder process exited with code -9"

    monkeypatch.setattr(pane, "DecoderProcess", refuse)
    run(scenario())


def test_bad_sampling_settings_are_explained(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
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


def test_generate_colours_characters_by_their_draw(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=50, seed=3)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            await pilot.press(*"KING", "enter")
            await wait_for(
                pilot,
                lambda: not screen.running and len(screen.output.text) == 54,
                "54 characters generated",
            )
            chosen: list[float] = []
            gen = torch.Generator().manual_seed(3)
            ids = screen.vocab.encode("KING")
            decoder = decoder_for(screen.model, screen.precision)
            list(generate(screen.model, ids, 50, SamplingParams(), gen, decoder=decoder,
                          chosen=chosen))  # fmt: skip
            assert screen.output.picked == pytest.approx(chosen) and len(chosen) == 50
            await pilot.press("ctrl+o")
            shown = screen.query_one("#output").content
            assert shown.plain.startswith("KING") and len(shown.plain) >= 54
            assert any(" on #" in str(span.style) for span in shown.spans)
            await pilot.press("ctrl+o")
            shown = screen.query_one("#output").content
            assert not any(" on #" in str(span.style) for span in shown.spans)

    run(scenario())


# -- the next-character view --------------------------------------------------------------


def test_next_char_view_follows_the_prompt_and_the_settings(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions()))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
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
            panel = (await opened(pilot, app, GenerateScreen)).query_one(NextChar)
            await wait_for(pilot, lambda: bool(panel.choices), "the model's own prediction")
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


def test_the_status_line_is_cut_between_words_in_small_terminals(tmp_path: Path) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario(size: tuple[int, int]) -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=20, seed=7)))
        async with app.run_test(size=size) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            await pilot.press("enter")
            status = screen.query_one("#gen-status")
            await wait_for(pilot, lambda: "generated" in str(status.render()), "the end")
            shown = str(status.render()).strip()
            said = status.said[0]
            assert cell_len(shown) <= size[0] - 2, (size, shown)
            if shown != said:  # cut: at the end of one of its words
                assert shown.endswith("…") and said.startswith(shown[:-1]), (size, shown)
                assert said[len(shown) - 1] in " ·,", (size, shown)
            await pilot.resize_terminal(120, 30)  # and whole again when there is room
            await wait_for(pilot, lambda: str(status.render()).strip() == said, "all of it")

    for size in ((60, 20), (80, 24)):
        run(scenario(size))


def test_the_first_character_shows_as_it_arrives(tmp_path: Path, monkeypatch) -> None:
    """The first character does not wait for the timer that shows the rest (200 ms, here
    an hour): the user sees at once that the model is writing."""
    import charlm_tui.tui.widgets.generated as generated

    monkeypatch.setattr(generated, "FLUSH_S", 3600.0)
    ckpt = fake_run(tmp_path, "gen") / "best.pt"

    async def scenario() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=20_000, seed=7)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            assert isinstance(screen, GenerateScreen)
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: screen.output.generated or not screen.running,
                "a first character, or the end",
            )
            assert screen.running and screen.output.generated  # shown while it generates
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.running, "stopped")

    run(scenario())
