"""The generate pane: type a prompt, watch the model continue it character by character.

The app loads the checkpoint in a worker and starts the decoder child (core/decoding/
decoder_process.py) before the pane opens, so decoding never competes with the UI for
the interpreter. A thread worker waits on the child's output and queues characters;
a timer on the UI side shows them in batches, 5 times a second. Esc stops it and keeps
what was written. Beside the text, the model's five likeliest next characters at the
end of the current prompt (or of the text, once generated), computed in a worker: the
probabilities sampling draws from, after temperature, top-k and top-p, with the model's
own beside them. Ctrl+O colours each generated character by the probability it was
drawn with; Ctrl+L inspects the text (tui/screens/inspect.py).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Header, Input, Label, Static

from charlm_tui.core.decoding.options import GenerateOptions, SamplingParams, Source
from charlm_tui.core.decoding.sampling import default_context
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.quant import resolve_precision
from charlm_tui.core.runs.rundir import save_generation
from charlm_tui.core.text.vocab import describe_chars
from charlm_tui.tui.messages import GenerateReady, OpenInspect
from charlm_tui.tui.widgets.bars import KeysFooter, StatusLine
from charlm_tui.tui.widgets.generated import DecoderNote, GeneratedText, GenerationEnded
from charlm_tui.tui.widgets.inputs import OrderedInput
from charlm_tui.tui.widgets.next_char import NextChar
from charlm_tui.tui.widgets.sampling_fields import FIELDS, SamplingFields


class PromptInput(OrderedInput):
    """An Input with shell-like history on Up and Down (keys of one read kept in order).
    The history is the app's: every pane of the session shares it."""

    BINDINGS = [Binding("up", "history(-1)", show=False), Binding("down", "history(1)", show=False)]

    def __init__(self, history: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = history
        self._pos = len(history)

    def action_history(self, delta: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + delta))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)

    def remember(self, prompt: str) -> None:
        if prompt and (not self.history or self.history[-1] != prompt):
            self.history.append(prompt)
        self._pos = len(self.history)


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

    def __init__(self, ready: GenerateReady, history: list[str]) -> None:
        super().__init__()
        self.model, self.vocab, self.label = ready.model, ready.vocab, ready.label
        self.checkpoint = ready.path  # what Ctrl+L inspects the text with
        self.options = ready.options or GenerateOptions()
        self.precision = ready.precision  # int8 or fp32
        self.history = history
        self.context = self.options.prompt  # what the next-character view predicts after
        self.output = GeneratedText(self.model, self.vocab.chars, ready.decoder, id="output")
        self.refused = False  # the status line says the prompt was refused

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="gen-label")
        yield PromptInput(
            self.history,
            value=self.options.prompt,
            placeholder="Prompt, then Enter (↑/↓: history)",
            id="prompt",
        )
        yield Label("", id="oov")
        yield SamplingFields(self.options, id="knobs")
        with Horizontal(id="gen-body"):
            with VerticalScroll(id="output-scroll"):
                yield self.output
            with Vertical(id="next-panel"):
                yield Label("next character", classes="panel-title")
                yield NextChar(id="next-char")
        yield StatusLine(id="gen-status")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "charlm-tui · generate"
        self.show_label()
        self.query_one("#prompt", Input).focus()
        # The view shows what sampling draws from: it follows the settings as typed.
        for spec in FIELDS:
            field = self.query_one(f"#{spec.name}", Input)
            self.watch(field, "value", self.settings_changed, init=False)
        self.check_prompt(self.options.prompt)
        self.update_next_char(self.options.prompt)

    def show_label(self) -> None:
        shown = weights_label(self.precision, self.options.compile, self.label)
        self.query_one("#gen-label", Static).update(shown)

    # -- inputs ----------------------------------------------------------------------------

    def check_prompt(self, text: str) -> bool:
        missing = flag_unknown(self.query_one("#oov", Label), self.vocab.unknown(text))
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
        prompt = self.query_one("#prompt", PromptInput).value
        if not self.check_prompt(prompt):
            self.set_status("fix the prompt first: some characters are unknown to the model", True)
            self.refused = True
            return
        options = self.query_one(SamplingFields).options(prompt, self.precision)
        if options is None:
            self.set_status("fix the settings marked in red first", True)
            return
        self.query_one("#prompt", PromptInput).remember(prompt)
        self.set_status("generating… (Esc stops)")
        self.running = True
        ids = self.vocab.encode(prompt or default_context(self.vocab))
        self.output.generate(prompt, ids, options, self.precision)

    @on(GenerationEnded)
    def finished(self, message: GenerationEnded) -> None:
        self.output.ended()
        self.running = False
        self.set_status(message.describe(), bool(message.error))
        if message.error:
            return
        # What generation read: the prompt, or the newline it starts from without one.
        start = "" if self.output.prompt_len else default_context(self.vocab)
        self.update_next_char(start + self.output.text)

    @on(DecoderNote)
    def decoder_note(self, message: DecoderNote) -> None:
        if self.running:
            self.set_status(f"{message.text}…")

    def set_status(self, message: str, error: bool = False) -> None:
        self.query_one(StatusLine).say(message, error)
        self.refused = False

    def update_next_char(self, text: str) -> None:
        """What the model expects after `text`, as sampling draws it and raw: asked of a
        worker (core/decoding/inspect.py `next_char_choices`), never this thread."""
        self.context = text
        panel = self.query_one(NextChar)
        if missing := self.vocab.unknown(text):  # generation refuses it: so does the view
            never = describe_chars(missing, 3)
            panel.explain(f"no prediction: the model never saw {never}, so generation refuses "
                          "this prompt")  # fmt: skip
            return
        fields = self.query_one(SamplingFields)
        options = fields.options(self.query_one("#prompt", Input).value, self.precision)
        params = options.params if options is not None else None
        note = sampling_note(params, prompted=bool(text))
        panel.predict(self.model, self.vocab, text or default_context(self.vocab), params, note)

    # -- actions ---------------------------------------------------------------------------

    def action_stop_or_back(self) -> None:
        if self.running:
            self.output.stop()
        else:
            self.app.pop_screen()

    def action_resample(self) -> None:
        if self.running:
            return
        self.query_one(SamplingFields).next_seed()
        self.start()

    def action_toggle_precision(self) -> None:
        if self.running:
            self.notify("stop the generation first (Esc)", severity="warning")
            return
        try:
            other = "fp32" if self.precision == "int8" else "int8"
            self.precision = resolve_precision(self.model, other)
        except CharLMError as e:
            self.notify(str(e), severity="warning")
            return
        self.show_label()

    def action_toggle_odds(self) -> None:
        self.output.colour_odds = not self.output.colour_odds
        if self.output.colour_odds:
            self.notify("colour: -log2 p of each draw, blue sure … red a long shot", timeout=5)

    def action_inspect(self) -> None:
        if self.running:
            self.notify("stop the generation first (Esc)", severity="warning")
            return
        text = self.output.text or self.query_one("#prompt", Input).value
        if self.vocab.unknown(text):
            self.notify("the text has characters the model never saw", severity="warning")
        elif len(text) < 2:
            self.notify("type or generate at least 2 characters first", severity="warning")
        else:
            source = Source(text=text, name="the generate pane's text")
            self.post_message(OpenInspect(self.checkpoint, source, text))

    def action_next_char(self) -> None:
        self.update_next_char(self.output.text or self.query_one("#prompt", Input).value)

    def action_save(self) -> None:
        if not self.output.text:
            self.notify("nothing to save yet", severity="warning")
            return
        try:
            path = save_generation(self.checkpoint.parent, self.output.text)
        except OSError as e:
            self.notify(f"could not save: {e}", severity="error")
            return
        self.notify(f"saved to {path}")


def weights_label(precision: str, compiled: bool, label: str) -> Text:
    """`int8 weights · compiled step · run/best.pt · iter …`: the precision first, so a
    narrow terminal clips the checkpoint's details rather than it."""
    how = " weights · compiled step" if compiled else " weights"
    return Text.assemble((precision, "bold"), f"{how} · {label}")


def flag_unknown(label: Label, missing: list[str]) -> list[str]:
    """Say under the prompt which of its characters the model never saw (if any)."""
    text = f"not in the model's vocabulary: {describe_chars(missing)}" if missing else ""
    label.update(Text(text, style="bold red"))
    label.set_class(bool(missing), "visible")
    return missing


def sampling_note(params: SamplingParams | None, prompted: bool = True) -> str:
    """What "sample" means in the next-character view (and, without a prompt, where
    the prediction is made)."""
    where = "" if prompted else "no prompt: after ⏎, where generation starts\n"
    if params is None:
        return where + "settings invalid: the model's own probabilities"
    if params.greedy:
        return where + "sample: greedy (temperature 0)"
    parts = [f"temp {params.temperature:g}"]
    if params.top_k:
        parts.append(f"top-k {params.top_k}")
    if params.top_p < 1:
        parts.append(f"top-p {params.top_p:g}")
    return where + "sample: " + " · ".join(parts)
