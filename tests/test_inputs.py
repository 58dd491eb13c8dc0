"""Text fields keep the keys of one terminal read in order (OrderedInput, Textual #6605)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.screens.generate import GenerateScreen
from tests.tui_helpers import fake_run, opened, run


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
            pane = await opened(pilot, app, GenerateScreen)
            fields = list(pane.query_one(SamplingFields).query(Input))
            assert fields and all(isinstance(f, OrderedInput) for f in fields)
            await pilot.press("escape", "n")
            fields = list(app.screen.query(Input))
            assert fields and all(isinstance(f, OrderedInput) for f in fields)

    run(scenario())
