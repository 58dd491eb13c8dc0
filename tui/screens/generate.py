"""The generate pane: type a prompt, watch the model continue it character by character.

Generation runs in a child process (core/decoding/decoder_process.py), started when the pane
opens, so decoding never competes with the UI for the interpreter. A thread worker
waits on the child's output and queues characters; a timer on the UI side shows them
in batches, 5 times a second. Esc stops it and keeps what was written. Beside
the text, the model's five likeliest next characters at the end of the current prompt
(or of the text, once generated): the probabilities sampling draws from, after
temperature, top-k and top-p, with the model's own beside them. Ctrl+O colours each
generated character by the probability it was drawn with, on inspect's surprise scale:
where the model hesitated. Ctrl+L inspects the text (tui/screens/inspect.py).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static
from textual.worker import get_current_worker

from charlm_tui.core.decoding.decoder_process import DecoderProcess
from charlm_tui.core.decoding.inspect import SURPRISE, bits, next_char_choices, visible_char
from charlm_tui.core.decoding.options import GenerateOptions, SamplingParams, Source
from charlm_tui.core.decoding.sampling import default_context
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.protocol import context_kind
from charlm_tui.core.models.quant import resolve_precision
from charlm_tui.core.runs.rundir import GENERATIONS
from charlm_tui.core.text.vocab import Vocab, describe_chars
from charlm_tui.tui.formatting import visible_text
from charlm_tui.tui.messages import OpenInspect
from charlm_tui.tui.widgets.inputs import OrderedInput
from charlm_tui.tui.widgets.next_char import NextChar
from charlm_tui.tui.widgets.sampling_fields import FIELDS, SamplingFields

# How often streamed characters reach the screen. Each redraw of the output takes ~12
# ms of the UI's interpreter (layout and render); when decoding ran in a thread of the
# app, 30 Hz streamed 155-235 chars/s, 10 Hz 250-380 and 5 Hz 0.73 of the headless rate
# (BENCHMARKS.md). The child process no longer waits for redraws; 5 Hz leaves the UI
# idle most of the time. At ~1,000 chars/s a flush is a line or two.
FLUSH_S = 0.2
SYNC_CONTEXT = 4096  # characters the next-character view reads on the UI thread
HISTORY: list[str] = []  # prompts of this session, newest last


class PromptInput(OrderedInput):
    """An Input with shell-like history on Up and Down (keys of one read kept in order)."""

    BINDINGS = [Binding("up", "history(-1)", show=False), Binding("down", "history(1)", show=False)]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._pos = len(HISTORY)

    def action_history(self, delta: int) -> None:
        if not HISTORY:
            return
        self._pos = max(0, min(len(HISTORY), self._pos + delta))
        self.value = HISTORY[self._pos] if self._pos < len(HISTORY) else ""
        self.cursor_position = len(self.value)


@dataclass
class GenerationEnded(Message):
    """The worker stopped: how many characters, how fast, whether Esc stopped it."""

    count: int
    rate: float
    stopped: bool
    error: str = ""


@dataclass
class DecoderNote(Message):
    """The decoder process says what it is doing (compiling its step, say)."""

    text: str


class GenerateScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "stop_or_back", "Stop/back"),
        Binding("ctrl+q", "app.quit", "Quit"),  # early: kept in a narrow footer
        Binding("ctrl+r", "resample", "Re-sample"),
        Binding("ctrl+s", "save", "Save output"),
        Binding("ctrl+b", "toggle_precision", "int8/fp32"),
        # Printable keys go to the prompt: the generate pane's keys are Ctrl ones.
        Binding("ctrl+o", "toggle_odds", "Colour p"),
        Binding("ctrl+l", "inspect", "Inspect"),
        Binding("ctrl+n", "next_char", "Next char", show=False),
    ]

    running: reactive[bool] = reactive(False, bindings=True)
    colour_odds: reactive[bool] = reactive(False)

    def __init__(
        self,
        model: torch.nn.Module,
        vocab: Vocab,
        label: str,
        save_dir: Path | None = None,
        options: GenerateOptions | None = None,
        checkpoint: Path | None = None,
    ) -> None:
        super().__init__()
        self.model, self.vocab, self.label, self.save_dir = model, vocab, label, save_dir
        self.checkpoint = checkpoint  # what Ctrl+L inspects the text with
        self.options = options or GenerateOptions()
        self.precision = resolve_precision(model, self.options.precision)  # int8 or fp32
        self.decoder: DecoderProcess | None = None  # started on mount
        self.output = ""  # the prompt and its continuation, as shown
        self.prompt_len = 0  # where the continuation starts in output
        self.picked: list[float] = []  # the probability each new character was drawn with
        self.context = self.options.prompt  # what the next-character view predicts after
        # Characters made by the worker, not yet shown, with their probabilities: deque
        # appends and pops are thread-safe, so the worker never blocks on the UI (it did
        # with call_from_thread per batch, and streamed at a quarter of the headless rate).
        self.pending: deque[tuple[str, float]] = deque()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.label_text(), id="gen-label")
        yield PromptInput(
            value=self.options.prompt,
            placeholder="Prompt, then Enter (↑/↓: history)",
            id="prompt",
        )
        yield Label("", id="oov")
        yield SamplingFields(self.options, id="knobs")
        with Horizontal(id="gen-body"):
            with VerticalScroll(id="output-scroll"):
                yield Static("", id="output")
            with Vertical(id="next-panel"):
                yield Label("next character", classes="panel-title")
                yield NextChar(id="next-char")
        yield Label("", id="gen-status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "charlm-tui · generate"
        # Started now, it imports torch and loads the weights while the user types.
        try:
            self.decoder = DecoderProcess(self.model)
        except CharLMError:  # said when the user asks for text (stream tries again)
            self.decoder = None
        self.query_one("#prompt", Input).focus()
        self.flusher = self.set_interval(FLUSH_S, self.flush, pause=True)
        # The view shows what sampling draws from: it follows the settings as typed.
        for spec in FIELDS:
            field = self.query_one(f"#{spec.name}", Input)
            self.watch(field, "value", self.settings_changed, init=False)
        self.check_prompt(self.options.prompt)
        self.update_next_char(self.options.prompt)

    def on_unmount(self) -> None:
        if self.decoder is not None:
            self.decoder.close()

    # -- inputs ----------------------------------------------------------------------------

    def check_prompt(self, text: str) -> bool:
        missing = self.vocab.unknown(text)
        label = self.query_one("#oov", Label)
        if missing:
            label.update(
                Text(f"not in the model's vocabulary: {describe_chars(missing)}", style="bold red")
            )
        else:
            label.update("")
        label.set_class(bool(missing), "visible")
        if not missing and self.refused:  # the refusal was about a prompt now gone
            self.set_status("")
        return not missing

    @on(Input.Changed, "#prompt")
    def prompt_changed(self, event: Input.Changed) -> None:
        self.check_prompt(event.value)
        if not self.running:
            self.update_next_char(event.value)

    def settings_changed(self) -> None:
        if not self.running:
            self.update_next_char(self.context)

    @on(Input.Submitted, "#prompt")
    @on(SamplingFields.Submitted)
    def submitted(self) -> None:
        self.start()

    # -- generation ------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        prompt = self.query_one("#prompt", Input).value
        if not self.check_prompt(prompt):
            self.set_status("fix the prompt first: some characters are unknown to the model", True)
            self.refused = True
            return
        options = self.query_one(SamplingFields).options(prompt, self.precision)
        if options is None:
            self.set_status("fix the settings marked in red first", True)
            return
        if prompt and (not HISTORY or HISTORY[-1] != prompt):
            HISTORY.append(prompt)
        self.output, self.prompt_len, self.picked = prompt, len(prompt), []
        self.query_one("#output", Static).update(visible_text(prompt, "bold"))
        self.set_status("generating… (Esc stops)")
        self.pending.clear()
        self.flusher.resume()
        self.running = True
        self.stream(self.vocab.encode(prompt or default_context(self.vocab)), options)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def stream(self, ids: list[int], options: GenerateOptions) -> None:
        """Wait on the child process's characters (the GIL is free while it waits)."""
        worker = get_current_worker()
        count, error, seconds = 0, "", 0.0
        chars = self.vocab.chars
        try:
            decoder = self.decoder
            if decoder is None or not decoder.alive:  # it failed last time: a fresh one
                decoder = self.decoder = DecoderProcess(self.model)
            for tok, p in decoder.generate(
                ids,
                options,
                self.precision,
                cancelled=lambda: worker.is_cancelled,
                note=lambda text: self.post_message(DecoderNote(text)),
            ):
                self.pending.append((chars[tok], p))
                count += 1
            seconds = decoder.last_seconds  # the model's time, not the child's start-up
        except (CharLMError, OSError, ValueError, KeyError) as e:
            error = str(e) or type(e).__name__
        rate = count / max(seconds, 1e-9)
        self.post_message(GenerationEnded(count, rate, worker.is_cancelled, error))

    def flush(self) -> None:
        """Show the characters the worker has queued since the last flush."""
        chunk, probs = [], []
        while self.pending:
            ch, p = self.pending.popleft()
            chunk.append(ch)
            probs.append(p)
        if chunk:
            self.picked.extend(probs)
            self.append("".join(chunk))

    def append(self, text: str) -> None:
        self.output += text
        self.show_output()
        self.query_one("#output-scroll", VerticalScroll).scroll_end(animate=False)

    def show_output(self) -> None:
        shown = Text()  # Text(prompt, style=...) would make its style the whole text's
        shown.append_text(visible_text(self.output[: self.prompt_len], "bold"))
        if self.colour_odds:
            shown.append_text(self.odds_text(self.output[self.prompt_len :]))
        else:  # generated text is untrusted: escapes are shown, never sent raw
            shown.append_text(visible_text(self.output[self.prompt_len :]))
        self.query_one("#output", Static).update(shown)

    def odds_text(self, generated: str) -> Text:
        """Each generated character on the surprise scale of the probability it was
        drawn with, -log2 p (bits): the brighter, the less sure the draw."""
        out = Text()
        run, run_style = [], ""
        for ch, p in zip(generated, self.picked, strict=False):
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

    def watch_colour_odds(self) -> None:
        if self.is_mounted:
            self.show_output()

    @on(GenerationEnded)
    def finished(self, message: GenerationEnded) -> None:
        self.flusher.pause()
        self.flush()
        self.running = False
        if message.error:
            self.set_status(f"generation failed: {message.error}", True)
            return
        what = "stopped after" if message.stopped else "generated"
        self.set_status(
            f"{what} {message.count} characters ({message.rate:,.0f} chars/s) · Enter: again, "
            "Ctrl+R: new seed, Ctrl+S: save"
        )
        # What generation read: the prompt, or the newline it starts from without one.
        start = "" if self.prompt_len else default_context(self.vocab)
        self.update_next_char(start + self.output)

    @on(DecoderNote)
    def decoder_note(self, message: DecoderNote) -> None:
        if self.running:
            self.set_status(f"{message.text}…")

    refused = False  # the status line says the prompt was refused

    def set_status(self, message: str, error: bool = False) -> None:
        label = self.query_one("#gen-status", Label)
        label.update(Text(message, style="bold red" if error else ""))
        self.refused = False

    def update_next_char(self, text: str) -> None:
        """What the model expects after `text`: as sampling draws it, and raw."""
        self.context = text
        panel = self.query_one(NextChar)
        missing = self.vocab.unknown(text)
        if missing:  # generation refuses this prompt: so does the view, and says why
            panel.explain(
                f"no prediction: the model never saw {describe_chars(missing, 3)}, "
                "so generation refuses this prompt"
            )
            return
        fields = self.query_one(SamplingFields)
        options = fields.options(self.query_one("#prompt", Input).value, self.precision)
        params = options.params if options is not None else None
        note = sampling_note(params)
        if not text:
            note = "no prompt: after ⏎, where generation starts\n" + note
        context = text or default_context(self.vocab)
        if len(context) > SYNC_CONTEXT and context_kind(self.model) == "unbounded":
            # A recurrent model reads the whole text: off the UI thread, latest wins.
            self.predict(context, params, note)
            return
        panel.show(next_char_choices(self.model, self.vocab, context, params), note)

    @work(thread=True, exclusive=True, group="next-char", exit_on_error=False)
    def predict(self, context: str, params: SamplingParams | None, note: str) -> None:
        worker = get_current_worker()
        choices = next_char_choices(self.model, self.vocab, context, params)
        if not worker.is_cancelled and context == (self.context or default_context(self.vocab)):
            self.app.call_from_thread(self.query_one(NextChar).show, choices, note)

    # -- actions ---------------------------------------------------------------------------

    def action_stop_or_back(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "generate")
        else:
            self.app.pop_screen()

    def action_resample(self) -> None:
        if self.running:
            return
        self.query_one(SamplingFields).next_seed()
        self.start()

    def label_text(self) -> Text:
        # First, so a narrow terminal clips the checkpoint's details rather than this.
        how = " weights · compiled step" if self.options.compile else " weights"
        return Text.assemble((f"{self.precision}", "bold"), f"{how} · {self.label}")

    def action_toggle_precision(self) -> None:
        if self.running:
            self.notify("stop the generation first (Esc)", severity="warning")
            return
        try:
            self.precision = resolve_precision(
                self.model, "fp32" if self.precision == "int8" else "int8"
            )
        except CharLMError as e:
            self.notify(str(e), severity="warning")
            return
        self.query_one("#gen-label", Static).update(self.label_text())

    def action_toggle_odds(self) -> None:
        self.colour_odds = not self.colour_odds
        if self.colour_odds:
            self.notify("colour: -log2 p of each draw, blue sure … red a long shot", timeout=5)

    def action_inspect(self) -> None:
        if self.running:
            self.notify("stop the generation first (Esc)", severity="warning")
            return
        text = self.output or self.query_one("#prompt", Input).value
        if self.checkpoint is None:
            self.notify("this model has no checkpoint file to inspect", severity="warning")
        elif self.vocab.unknown(text):
            self.notify("the text has characters the model never saw", severity="warning")
        elif len(text) < 2:
            self.notify("type or generate at least 2 characters first", severity="warning")
        else:
            source = Source(text=text, name="the generate pane's text")
            self.post_message(OpenInspect(self.checkpoint, source, text))

    def action_next_char(self) -> None:
        self.update_next_char(self.output or self.query_one("#prompt", Input).value)

    def action_save(self) -> None:
        if not self.output:
            self.notify("nothing to save yet", severity="warning")
            return
        folder = (self.save_dir or Path.cwd()) / GENERATIONS
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = folder / f"{stamp}.txt"
            n = 1
            while path.exists():  # never overwrite an earlier save
                path, n = folder / f"{stamp}-{n}.txt", n + 1
            path.write_text(self.output, encoding="utf-8")
        except OSError as e:
            self.notify(f"could not save: {e}", severity="error")
            return
        self.notify(f"saved to {path}")


def sampling_note(params: SamplingParams | None) -> str:
    """What "sample" means in the next-character view."""
    if params is None:
        return "settings invalid: the model's own probabilities"
    if params.greedy:
        return "sample: greedy (temperature 0)"
    parts = [f"temp {params.temperature:g}"]
    if params.top_k:
        parts.append(f"top-k {params.top_k}")
    if params.top_p < 1:
        parts.append(f"top-p {params.top_p:g}")
    return "sample: " + " · ".join(parts)
