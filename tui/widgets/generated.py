"""The generate pane's text: the prompt, then what the model writes, streamed.

`generate` asks the decoder child (core/decoding/decoder_process.py) for text in a
thread worker, which waits on the child's output and queues characters (a deque:
appends and pops are thread-safe, so the decoder never waits for the UI); the first
character is shown as it arrives (`FirstCharacter`), then a timer shows what arrived
five times a second, and `GenerationEnded` says how it went.

Generated text is untrusted: control characters show as escapes (tui/formatting.py
`visible_text`), never raw. With `colour_odds`, each
generated character is coloured on inspect's surprise scale by the probability it was
drawn with: where the model hesitated.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static
from textual.worker import get_current_worker

from charlm_tui.core.decoding import decoder_process
from charlm_tui.core.decoding.decoder_process import DecoderProcess
from charlm_tui.core.decoding.inspect import SURPRISE, bits, visible_char
from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.formatting import visible_text

# How often streamed characters reach the screen. Each redraw of the output takes ~12
# ms of the UI's interpreter (layout and render); at 5 Hz the UI is idle most of the time
# and, at ~1,000 chars/s, a flush is a line or two (BENCHMARKS.md, generate pane).
FLUSH_S = 0.2


@dataclass
class GenerationEnded(Message):
    """The worker stopped: how many characters, how fast, whether Esc stopped it."""

    count: int
    rate: float
    stopped: bool
    error: str = ""

    def describe(self) -> str:
        if self.error:
            return f"generation failed: {self.error}"
        what = "stopped after" if self.stopped else "generated"
        return (
            f"{what} {self.count} characters ({self.rate:,.0f} chars/s) · Enter: again, "
            "Ctrl+R: new seed, Ctrl+S: save"
        )


class FirstCharacter(Message):
    """The first character of a generation is queued: shown at once, not at the next tick
    of the timer (up to 200 ms later: bench/tui_latency.py)."""


@dataclass
class DecoderNote(Message):
    """The decoder process says what it is doing (compiling its step, say)."""

    text: str


def odds_text(generated: str, picked: list[float]) -> Text:
    """Each character on the surprise scale of the probability it was drawn with,
    -log2 p (bits): the brighter, the less sure the draw."""
    out = Text()
    run: list[str] = []
    run_style = ""
    for ch, p in zip(generated, picked, strict=False):
        style = SURPRISE.style(bits(p))
        if style != run_style and run:
            out.append("".join(run), style=run_style)
            run = []
        run_style = style
        run.append(" " if ch == " " else visible_char(ch))
        if ch == "\n":
            out.append("".join(run), style=run_style)
            out.append("\n")
            run = []
    if run:
        out.append("".join(run), style=run_style)
    return out


class GeneratedText(Static):
    """The prompt (bold) and its continuation, with each character's draw probability."""

    colour_odds: reactive[bool] = reactive(False)

    def __init__(self, model: Any, chars: str, decoder: DecoderProcess | None, **kwargs) -> None:
        """decoder: a child already loading the model, or None (one starts when asked)."""
        super().__init__("", **kwargs)
        self.model, self.chars, self.decoder = model, chars, decoder
        self.text = ""  # the prompt and its continuation, as shown
        self.prompt_len = 0  # where the continuation starts in text
        self.picked: list[float] = []  # the probability each new character was drawn with
        self.pending: deque[tuple[str, float]] = deque()  # queued by a worker, not shown yet

    def on_mount(self) -> None:
        self.flusher = self.set_interval(FLUSH_S, self.flush, pause=True)

    def on_unmount(self) -> None:
        if self.decoder is not None:
            self.decoder.close()

    def generate(
        self, prompt: str, ids: list[int], options: GenerateOptions, precision: str
    ) -> None:
        """Show the prompt, then stream what the decoder makes after `ids`."""
        self.begin(prompt)
        self.flusher.resume()
        self.stream(ids, options, precision)

    def stop(self) -> None:
        self.workers.cancel_group(self, "generate")

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def stream(self, ids: list[int], options: GenerateOptions, precision: str) -> None:
        """Wait on the child process's characters (the GIL is free while it waits)."""
        worker = get_current_worker()
        count, error, seconds = 0, "", 0.0
        try:
            decoder = self.decoder
            if decoder is None or not decoder.alive:  # it failed last time: a fresh one
                decoder = self.decoder = decoder_process.DecoderProcess(self.model)
            for tok, p in decoder.generate(
                ids, options, precision, cancelled=lambda: worker.is_cancelled,
                note=lambda text: self.post_message(DecoderNote(text)),
            ):  # fmt: skip
                self.pending.append((self.chars[tok], p))
                count += 1
                if count == 1:
                    self.post_message(FirstCharacter())
            seconds = decoder.last_seconds  # the model's time, not the child's start-up
        except (CharLMError, OSError, ValueError, KeyError) as e:
            error = str(e) or type(e).__name__
        rate = count / max(seconds, 1e-9)
        self.post_message(GenerationEnded(count, rate, worker.is_cancelled, error))

    @on(FirstCharacter)
    def first_character(self) -> None:
        self.flush()

    def ended(self) -> None:
        """The worker said it stopped: show the rest and stop the timer."""
        self.flusher.pause()
        self.flush()

    def begin(self, prompt: str) -> None:
        self.text, self.prompt_len, self.picked = prompt, len(prompt), []
        self.pending.clear()
        self.update(visible_text(prompt, "bold"))

    def flush(self) -> bool:
        """Show what was queued since the last flush; whether anything was."""
        chunk, probs = [], []
        while self.pending:
            ch, p = self.pending.popleft()
            chunk.append(ch)
            probs.append(p)
        if not chunk:
            return False
        self.picked.extend(probs)
        self.text += "".join(chunk)
        self.redraw()
        if self.parent is not None:
            self.parent.scroll_end(animate=False)  # the scroll view it sits in
        return True

    @property
    def generated(self) -> str:
        return self.text[self.prompt_len :]

    def redraw(self) -> None:
        shown = Text()  # Text(prompt, style=...) would make its style the whole text's
        shown.append_text(visible_text(self.text[: self.prompt_len], "bold"))
        if self.colour_odds:
            shown.append_text(odds_text(self.generated, self.picked))
        else:
            shown.append_text(visible_text(self.generated))
        self.update(shown)

    def watch_colour_odds(self) -> None:
        if self.is_mounted:
            self.redraw()
