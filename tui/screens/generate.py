"""The generate pane: type a prompt, watch the model continue it character by character.

Generation runs in a thread worker that checks for cancellation at every character
and never waits for the screen: it queues characters, and a timer on the UI side shows
them in batches, 10 times a second. Esc stops it and keeps what was written. Beside
the text, the model's five likeliest next characters.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import torch
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static
from textual.worker import Worker, get_current_worker

from core.errors import CharLMError
from core.inspect import next_char_distribution
from core.models.quant import decoder_for
from core.sampling import SamplingParams, generate
from core.vocab import describe_chars
from tui.widgets.next_char import NextChar

# How often streamed characters reach the screen. Each redraw of the output holds the
# interpreter for ~12 ms (layout and render), time the generating thread waits for:
# at 30 Hz the pane streamed 155-235 chars/s, at 10 Hz 250-380 (BENCHMARKS.md).
FLUSH_S = 0.1
HISTORY: list[str] = []  # prompts of this session, newest last


class PromptInput(Input):
    """An Input with shell-like history on Up and Down."""

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


class GenerateScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "stop_or_back", "Stop/back"),
        Binding("ctrl+r", "resample", "Re-sample"),
        Binding("ctrl+s", "save", "Save output"),
        Binding("ctrl+b", "toggle_precision", "int8/fp32"),
        Binding("ctrl+n", "next_char", "Next char", show=False),
    ]

    def __init__(
        self,
        model: torch.nn.Module,
        vocab,
        label: str,
        save_dir: Path | None = None,
        prompt: str = "",
        params: SamplingParams | None = None,
        max_new: int = 500,
        seed: int = 1337,
        precision: str = "auto",
    ) -> None:
        super().__init__()
        self.model, self.vocab, self.label, self.save_dir = model, vocab, label, save_dir
        self.decoder = decoder_for(model, precision)  # None: decode with the fp32 model
        self.params = params or SamplingParams()
        self.initial = dict(prompt=prompt, max_new=max_new, seed=seed)
        self.output = ""  # the prompt and its continuation, as shown
        self.worker: Worker | None = None
        # Characters made by the worker, not yet shown: deque appends and pops are
        # thread-safe, so the worker never blocks on the UI (it did with call_from_thread
        # per batch, and streamed at a quarter of the headless rate).
        self.pending: deque[str] = deque()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.label_text(), id="gen-label")
        yield PromptInput(
            value=self.initial["prompt"],
            placeholder="Prompt, then Enter (↑/↓: history)",
            id="prompt",
        )
        yield Label("", id="oov")
        with Horizontal(id="knobs"):
            yield Input(str(self.params.temperature), id="temperature", tooltip="temperature")
            yield Input(str(self.params.top_k), id="top_k", tooltip="top-k (0: off)")
            yield Input(str(self.params.top_p), id="top_p", tooltip="top-p (1: off)")
            yield Input(str(self.initial["max_new"]), id="max_new", tooltip="max new characters")
            yield Input(str(self.initial["seed"]), id="seed", tooltip="seed")
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
        for key, name in (
            ("temperature", "temp"),
            ("top_k", "top-k"),
            ("top_p", "top-p"),
            ("max_new", "max chars"),
            ("seed", "seed"),
        ):
            self.query_one(f"#{key}", Input).border_title = name
        self.query_one("#prompt", Input).focus()
        self.flusher = self.set_interval(FLUSH_S, self.flush, pause=True)
        self.check_prompt(self.initial["prompt"])
        self.update_next_char(self.initial["prompt"])

    # -- inputs ----------------------------------------------------------------------------

    def read_params(self) -> tuple[SamplingParams, int, int]:
        def number(key: str, kind: type) -> float:
            raw = self.query_one(f"#{key}", Input).value.strip()
            try:
                return kind(raw)
            except ValueError:
                raise CharLMError(
                    f"{key.replace('_', '-')} must be a number, not {raw!r}"
                ) from None

        params = SamplingParams(
            number("temperature", float), number("top_k", int), number("top_p", float)
        )
        params.validate()
        max_new, seed = number("max_new", int), number("seed", int)
        if not 0 <= max_new <= 100_000:
            raise CharLMError(f"max chars must be in [0, 100000], not {max_new}")
        return params, max_new, seed

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
        return not missing

    @on(Input.Changed, "#prompt")
    def prompt_changed(self, event: Input.Changed) -> None:
        self.check_prompt(event.value)
        if not self.running:
            self.update_next_char(event.value)

    @on(Input.Submitted, "#prompt")
    def prompt_submitted(self) -> None:
        self.start()

    @on(Input.Submitted, "#knobs Input")
    def knob_submitted(self) -> None:
        self.start()

    # -- generation ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def start(self) -> None:
        if self.running:
            return
        prompt = self.query_one("#prompt", Input).value
        if not self.check_prompt(prompt):
            self.set_status("fix the prompt first: some characters are unknown to the model", True)
            return
        try:
            params, max_new, seed = self.read_params()
        except CharLMError as e:
            self.set_status(str(e), True)
            return
        if prompt and (not HISTORY or HISTORY[-1] != prompt):
            HISTORY.append(prompt)
        context = prompt or ("\n" if "\n" in self.vocab.stoi else self.vocab.chars[0])
        self.output = prompt
        self.query_one("#output", Static).update(Text(prompt, style="bold"))
        self.set_status("generating… (Esc stops)")
        self.pending.clear()
        self.flusher.resume()
        self.worker = self.stream(self.vocab.encode(context), params, max_new, seed)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def stream(self, ids: list[int], params: SamplingParams, max_new: int, seed: int) -> None:
        worker = get_current_worker()
        gen = torch.Generator().manual_seed(seed)
        t0 = time.perf_counter()
        count = 0
        for tok in generate(self.model, ids, max_new, params, gen, decoder=self.decoder):
            if worker.is_cancelled:
                break
            self.pending.append(self.vocab.chars[tok])
            count += 1
        rate = count / max(time.perf_counter() - t0, 1e-9)
        self.app.call_from_thread(self.finish, count, rate, worker.is_cancelled)

    def flush(self) -> None:
        """Show the characters the worker has queued since the last flush."""
        chunk = []
        while self.pending:
            chunk.append(self.pending.popleft())
        if chunk:
            self.append("".join(chunk))

    def append(self, text: str) -> None:
        self.output += text
        prompt = self.query_one("#prompt", Input).value
        shown = Text(prompt, style="bold")
        shown.append(self.output[len(prompt) :])
        self.query_one("#output", Static).update(shown)
        self.query_one("#output-scroll", VerticalScroll).scroll_end(animate=False)

    def finish(self, count: int, rate: float, stopped: bool) -> None:
        self.flusher.pause()
        self.flush()
        what = "stopped after" if stopped else "generated"
        self.set_status(
            f"{what} {count} characters ({rate:,.0f} chars/s) · Enter: again, "
            "Ctrl+R: new seed, Ctrl+S: save"
        )
        self.update_next_char(self.output)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "generate" and event.worker.error is not None:
            self.flusher.pause()
            self.flush()
            self.set_status(f"generation failed: {event.worker.error}", True)

    def set_status(self, message: str, error: bool = False) -> None:
        label = self.query_one("#gen-status", Label)
        label.update(Text(message, style="bold red" if error else ""))

    def update_next_char(self, text: str) -> None:
        top = next_char_distribution(self.model, self.vocab, text)
        self.query_one(NextChar).show(top, text)

    # -- actions ---------------------------------------------------------------------------

    def action_stop_or_back(self) -> None:
        if self.running:
            self.worker.cancel()
        elif len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def action_resample(self) -> None:
        if self.running:
            return
        seed = self.query_one("#seed", Input)
        try:
            seed.value = str(int(seed.value) + 1)
        except ValueError:
            seed.value = "0"
        self.start()

    def label_text(self) -> str:
        # First, so a narrow terminal clips the checkpoint's details rather than this.
        weights = "int8" if self.decoder is not None else "fp32"
        return f"[b]{weights}[/b] weights · {self.label}"

    def action_toggle_precision(self) -> None:
        if self.running:
            self.notify("stop the generation first (Esc)", severity="warning")
            return
        try:
            precision = "fp32" if self.decoder is not None else "int8"
            self.decoder = decoder_for(self.model, precision)
        except CharLMError as e:
            self.notify(str(e), severity="warning")
            return
        self.query_one("#gen-label", Static).update(self.label_text())

    def action_next_char(self) -> None:
        self.update_next_char(self.output or self.query_one("#prompt", Input).value)

    def action_save(self) -> None:
        if not self.output:
            self.notify("nothing to save yet", severity="warning")
            return
        folder = (self.save_dir or Path.cwd()) / "generations"
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
