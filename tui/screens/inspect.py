"""The inspect screen: a text coloured by how surprised the model was by each character.

Every character's background shows its loss in bits on a fixed scale (core.decoding.inspect
SURPRISE), scored in eval's windows, so the mean in the header is what `charlm-tui
eval` reports for the same text. A cursor (arrows, home/end, a click) picks a character:
the panel shows its probability, rank and the five likeliest characters there. `a` turns
the text into a heat strip of what that prediction looked at: a GPT's attention (one
head, or the mean of a layer's heads: `h`, `l`), or for a recurrent model how far each
earlier character moved its state. Characters after the cursor stay grey: a prediction
never sees them. `g` shows the prediction at the cursor through a GPT's logit lens: the
likeliest characters read after each block, the last block's the model's own. `m` puts the
map of the character embeddings (their first two principal components, by kind of
character) in place of the text. Characters the model never saw stay in place, marked and
not scored: the cursor steps over them, and the legend says how many were left out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch.nn as nn
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Header, Label, Static

from charlm_tui.core.decoding.embeddings import (
    CLASSES,
    ORIGIN,
    EmbeddingMap,
    char_class,
    embedding_map,
    layout,
    short_label,
)
from charlm_tui.core.decoding.inspect import (
    ATTENTION,
    STATE_CHANGE,
    SURPRISE,
    Choice,
    Inspection,
    Scale,
    char_label,
    no_internals,
    no_lens,
    visible_char,
)
from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.console import UNSEEN_STYLE, unseen_note
from charlm_tui.tui.widgets.bars import KeysFooter
from charlm_tui.tui.widgets.next_char import NextChar

LN2 = float(np.log(2))
UNSEEN = Style.parse(UNSEEN_STYLE)  # the same mark as `charlm-tui inspect` prints
LENS_K = 3  # guesses per block: three fit the panel at 60 columns
# The map's colour for each kind of character (core.decoding.embeddings CLASSES).
CLASS_STYLES = {
    "vowel": "bold #ff7f50",
    "consonant": "#7ec8ff",
    "other letter": "#b0a0ff",
    "digit": "bold #f0d000",
    "punctuation": "bold #5fd75f",
    "space": "bold #ff5fd7",
    "other": "dim",
}


def cell_form(ch: str) -> str:
    """How a character of the text is drawn: a space stays a space (its colour shows)."""
    return " " if ch == " " else visible_char(ch)


def guess_form(ch: str) -> str:
    """A guessed character in a row of guesses: ␣ for a space, ⏎ for a newline, escapes."""
    return "␣" if ch == " " else visible_char(ch)


def lens_table(lens: list[list[tuple[str, float]]], actual: str) -> Text:
    """One row per block, first to last: its guesses and their probabilities; the
    character that came is bold and underlined, the last row (the model's own) bold."""
    out = Text("after block: guesses\n", style="dim", no_wrap=True, overflow="ellipsis")
    for b, guesses in enumerate(lens):
        last = b == len(lens) - 1
        out.append(f"{b + 1:>2} ", style="bold" if last else "dim")
        for ch, p in guesses:
            style = "bold underline" if ch == actual else ("bold" if last else "")
            out.append(guess_form(ch), style=style)
            out.append(f" {p:>3.0%}  ", style="" if last else "dim")
        out.append("\n")
    out.append(f"{len(lens)}: the model's own", style="dim")
    return out


def class_legend(present: set[str]) -> Text:
    """The map's colours for the kinds of characters on it, and its marks."""
    out = Text("kinds ", style="dim")
    for name in CLASSES:
        if name in present:
            out.append(f" {name}", style=CLASS_STYLES[name])
    out.append("  ⏎ newline ␣ space · any other + origin", style="dim")
    return out


class EmbeddingMapView(Widget):
    """The character embeddings' first two principal components, each character at its
    place and in its kind's colour, fitted to the widget's size; the character at the
    cursor reversed. Drawn by core.decoding.embeddings `layout` (the same as `inspect
    --embeddings`); every cell holds one safe glyph (`short_label`)."""

    DEFAULT_CSS = """
    EmbeddingMapView {
        height: 1fr;
        width: 1fr;
        border: round $primary;
        padding: 0 1;
        text-wrap: nowrap;  /* a wrapped caption would push the map's last row out */
        text-overflow: ellipsis;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.emap: EmbeddingMap | None = None
        self.message = "drawing the map of the character embeddings…"
        self.marked: str | None = None  # the character at the cursor

    def show(self, emap: EmbeddingMap | None, message: str = "") -> None:
        self.emap, self.message = emap, message
        self.refresh()

    def mark(self, ch: str | None) -> None:
        if ch != self.marked:
            self.marked = ch
            self.refresh()

    def render(self) -> Text:
        emap, width, height = self.emap, self.size.width, self.size.height
        if emap is None:
            return Text(self.message, style="dim")
        a, b = emap.explained
        grid = layout(emap, max(width, 2), max(height - 1, 2))
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("character embeddings, PCA:", style="bold")
        out.append(f" → 1st component, {a:.0%} of variance; ↑ 2nd, {b:.0%}", style="dim")
        if grid.hidden:  # a bigger terminal separates them
            out.append(f" · {grid.hidden} hidden under others", style="dim")
        out.append("\n")
        labels = [short_label(ch) for ch in emap.chars]
        styles = [Style.parse(CLASS_STYLES[char_class(ch)]) for ch in emap.chars]
        cursor = Style(reverse=True, bold=True)
        for r, line in enumerate(grid.cells):
            for i in line:
                if i is None:
                    out.append(" ")
                elif i == ORIGIN:
                    out.append("+", style="dim")
                else:
                    here = emap.chars[i] == self.marked
                    out.append(labels[i], style=styles[i] + cursor if here else styles[i])
            if r < len(grid.cells) - 1:
                out.append("\n")
        out.rstrip()
        return out


def scale_legend(scale: Scale, note: str = "") -> Text:
    """The bins of a scale as coloured swatches, then a note."""
    out = Text(f"{scale.title} ", style="dim")
    values = [scale.edges[0] / 2, *scale.edges]  # one value inside each bin
    for label, value in zip(scale.labels, values, strict=True):
        out.append(f" {label} ", style=scale.style(value) or "dim")
    if note:
        out.append(f"  {note}", style="dim")
    return out


def unseen_legend(ins: Inspection) -> Text:
    """The mark of a character the model never saw, then how many were left out: the
    count comes first after the mark, so a narrow terminal clips the list instead."""
    count = len(ins.unseen)
    chars = list(dict.fromkeys(ch for _, ch in ins.unseen))
    shown = ", ".join(char_label(ch) for ch in chars[:5]) + (" …" if len(chars) > 5 else "")
    out = Text()
    out.append(" never seen: left out ", style=UNSEEN_STYLE)  # as `inspect` prints it
    out.append(f"  {count:,} character{'s' if count != 1 else ''} left out: ", style="dim")
    out.append(shown)
    return out


class SurpriseView(ScrollView, can_focus=True):
    """The text as given, wrapped at the view's width, one coloured cell group per
    character. The cursor and the colours index the scored text (Inspection.text); a
    character the model never saw has a cell of its own, marked, that the cursor skips."""

    DEFAULT_CSS = """
    SurpriseView { height: 1fr; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Left", show=False),
        Binding("right", "move(1)", "Right", show=False),
        Binding("up", "line(-1)", "Up", show=False),
        Binding("down", "line(1)", "Down", show=False),
        Binding("pageup", "line(-10)", "Page up", show=False),
        Binding("pagedown", "line(10)", "Page down", show=False),
        Binding("home", "move(-1_000_000_000)", "Start", show=False),
        Binding("end", "move(1_000_000_000)", "End", show=False),
    ]

    cursor: reactive[int] = reactive(1)

    @dataclass
    class Moved(Message):
        index: int

    def __init__(self, inspection: Inspection, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ins = inspection
        # One cell group per character of the given text: (character, index in
        # Inspection.text, or None for one the model never saw).
        self.cells = inspection.given_text()
        self.forms = [cell_form(ch) for ch, _ in self.cells]
        self.widths = [cell_len(f) for f in self.forms]
        scored = np.array([n is not None for _, n in self.cells], dtype=bool)
        # Cell c -> the first scored character at or after it (what a click there picks).
        self.next_scored = np.cumsum(scored) - scored
        self.weights: dict[int, float] | None = None  # None: colour by surprise
        self.weight_scale = ATTENTION
        self.lines: list[range] = []  # of cells
        self.line_of = np.zeros(len(inspection.text), dtype=np.int64)  # by scored character
        self.col_of = np.zeros(len(inspection.text), dtype=np.int64)
        self._width = 0

    # -- layout --------------------------------------------------------------------------

    def wrap(self, width: int) -> None:
        """Break the text into lines of at most `width` cells, and after every newline."""
        width = max(width, 4)
        self._width = width
        lines, start, col = [], 0, 0
        for i, ((ch, n), w) in enumerate(zip(self.cells, self.widths, strict=True)):
            if col + w > width and i > start:
                lines.append(range(start, i))
                start, col = i, 0
            if n is not None:
                self.line_of[n], self.col_of[n] = len(lines), col
            col += w
            if ch == "\n":  # an unseen newline breaks the line too: the text's layout
                lines.append(range(start, i + 1))
                start, col = i + 1, 0
        if start < len(self.forms) or not lines:
            lines.append(range(start, len(self.forms)))
        self.lines = lines
        self.virtual_size = Size(width, len(lines))

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self.wrap(width)
            self.show_cursor()
        self.refresh()

    def on_mount(self) -> None:
        self.wrap(self.scrollable_content_region.width or 80)

    # -- drawing -------------------------------------------------------------------------

    def style_of(self, n: int) -> Style:
        ins, cursor = self.ins, self.cursor
        if self.weights is None:
            colour = SURPRISE.style(ins.loss[n] / LN2) if n else ""
            style = Style.parse(colour) if colour else Style(dim=True)
        elif n in self.weights:
            colour = self.weight_scale.style(self.weights[n])
            style = Style.parse(colour) if colour else Style()
        else:  # not read by this prediction: after it, or before its window
            style = Style(dim=True)
        if n == cursor:
            style += Style(reverse=True, bold=True, underline=True)
        return style

    def cell_style(self, cell: int) -> Style:
        n = self.cells[cell][1]
        return UNSEEN if n is None else self.style_of(n)  # never read: the same in every view

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        width = self.size.width
        row = scroll_y + y
        if row >= len(self.lines):
            return Strip.blank(width, base)
        segments = [Segment(self.forms[c], base + self.cell_style(c)) for c in self.lines[row]]
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)

    # -- the cursor ----------------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(len(self.ins.text) - 1, value))

    def watch_cursor(self, old: int, new: int) -> None:
        self.show_cursor()
        self.refresh()
        self.post_message(self.Moved(new))

    def show_cursor(self) -> None:
        if self.lines:
            line = int(self.line_of[self.cursor])
            self.scroll_to_region(Region(0, line, 1, 1), animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self.cursor = self.cursor + delta

    def action_line(self, delta: int) -> None:
        line, col = int(self.line_of[self.cursor]), int(self.col_of[self.cursor])
        target = max(0, min(len(self.lines) - 1, line + delta))
        step = 1 if delta > 0 else -1
        # A line of characters the model never saw holds nothing to stop on: go past it.
        while 0 <= target < len(self.lines) and target != line:
            if any(self.cells[c][1] is not None for c in self.lines[target]):
                self.cursor = self.at(target, col)
                return
            target += step

    def scored_at(self, cell: int) -> int:
        """The scored character in `cell`, or for an unseen one the next scored one."""
        return int(min(self.next_scored[cell], len(self.ins.text) - 1))

    def at(self, line: int, col: int) -> int:
        """The scored character covering cell `col` of `line` (past its end, the line's
        last); on a character the model never saw, the nearest scored one of that line,
        or the next scored one when the line has none."""
        cells = self.lines[line]
        if not cells:
            return self.scored_at(max(0, cells.start - 1))
        hit, x = cells[-1], 0
        for c in cells:
            x += self.widths[c]
            if x > col:
                hit = c
                break
        scored = [c for c in cells if self.cells[c][1] is not None]
        if not scored:
            return self.scored_at(hit)
        return int(self.cells[min(scored, key=lambda c: abs(c - hit))][1])  # type: ignore[arg-type]

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.lines:
            return
        line = offset.y + self.scroll_offset.y
        if 0 <= line < len(self.lines):
            self.cursor = self.at(line, offset.x + self.scroll_offset.x)

    def show_weights(self, weights: dict[int, float] | None, scale: Scale = ATTENTION) -> None:
        self.weights, self.weight_scale = weights, scale
        self.refresh()


class InternalsReady(Message):
    """A worker computed the internals of the window at the cursor."""


class LensReady(Message):
    """A worker read the window at the cursor through the logit lens."""


@dataclass
class MapReady(Message):
    """A worker computed the embedding map (None: the model has no embedding table)."""

    emap: EmbeddingMap | None
    why: str = ""  # when there is none


class InspectScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "toggle_view", "Attention"),
        Binding("g", "toggle_lens", "Lens"),
        Binding("m", "toggle_map", "Map"),
        Binding("h", "next_head", "Head"),
        Binding("l", "next_layer", "Layer"),
        Binding("escape", "back", "Back"),
    ]

    view: reactive[str] = reactive("surprise", bindings=True)  # or "internals", "lens"
    map_shown: reactive[bool] = reactive(False, bindings=True)  # the map in the text's place
    layer: reactive[int] = reactive(-1)  # -1: the last layer
    head: reactive[int | None] = reactive(None)  # None: the mean of the layer's heads

    def __init__(self, model: nn.Module, inspection: Inspection, label: str) -> None:
        super().__init__()
        self.model, self.ins, self.label = model, inspection, label
        self.reason = no_internals(model)
        self.no_lens = no_lens(model)
        # One forward at a time: the lens and the attention read it through hooks.
        self.forward_lock = threading.Lock()
        self.map_asked = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.label_text(), id="inspect-label")
        with Horizontal(id="inspect-body"):
            yield SurpriseView(self.ins, id="inspect-text")
            yield EmbeddingMapView(id="inspect-map")
            with Vertical(id="inspect-panel"):
                yield Label("at the cursor", classes="panel-title")
                yield Static(id="inspect-cursor")
                yield NextChar(id="inspect-top")
                yield Label(self.internals_title(), classes="panel-title", id="inspect-section")
                yield Static(id="inspect-internals")
        yield Static(id="inspect-legend")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "charlm-tui · inspect"
        self.sub_title = f"mean loss {self.ins.mean_loss:.4f} nats · {self.ins.bpc:.3f} bits/char"
        self.query_one("#inspect-legend").set_class(bool(self.ins.unseen), "-unseen")
        self.query_one(EmbeddingMapView).display = False
        self.query_one(SurpriseView).focus()
        self.refresh_view()

    def label_text(self) -> Text:
        ins = self.ins
        # The numbers first: a narrow terminal clips the checkpoint's name instead.
        return Text.assemble(
            (f"mean loss {ins.mean_loss:.4f} nats · {ins.bpc:.3f} bits/char", "bold"),
            f" · {ins.n_scored:,} characters scored in windows of {ins.block_size} · ",
            "".join(visible_char(ch) for ch in self.label),  # a path may hold anything
            unseen_note(ins),
        )

    def internals_title(self) -> str:
        return {"attention": "attention", "hidden": "state change"}.get(self.ins.kind or "", "")

    # -- keys ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.map_shown and action in ("toggle_view", "toggle_lens", "next_head", "next_layer"):
            return False  # the text and its panel are hidden: m brings them back
        if action == "next_head":
            return self.ins.kind == "attention" and self.view == "internals"
        if action == "next_layer":
            return self.ins.kind is not None and self.view == "internals"
        return True

    def action_toggle_view(self) -> None:
        if self.ins.kind is None:
            self.notify(self.reason, timeout=6)
            return
        self.view = "surprise" if self.view == "internals" else "internals"

    def action_toggle_lens(self) -> None:
        self.view = "surprise" if self.view == "lens" else "lens"

    def action_toggle_map(self) -> None:
        self.map_shown = not self.map_shown

    def action_back(self) -> None:
        if self.map_shown:
            self.map_shown = False
        else:
            self.app.pop_screen()

    def action_next_layer(self) -> None:
        n = self.n_layer
        self.layer = (self.layer % n + 1) % n

    def action_next_head(self) -> None:
        internals = self.ins.cached(self.cursor_or_first)
        if internals is None:
            return
        heads = [None, *range(internals.n_head)]
        self.head = heads[(heads.index(self.head) + 1) % len(heads)]

    @property
    def n_layer(self) -> int:
        internals = self.ins.cached(self.cursor_or_first)
        return internals.n_layer if internals is not None else 1

    @property
    def cursor_or_first(self) -> int:
        return max(1, self.query_one(SurpriseView).cursor)

    def watch_view(self) -> None:
        self.refresh_view()

    def watch_layer(self) -> None:
        self.refresh_view()

    def watch_head(self) -> None:
        self.refresh_view()

    def watch_map_shown(self, shown: bool) -> None:
        if not self.is_mounted:
            return
        text = self.query_one(SurpriseView)
        text.display = not shown
        self.query_one("#inspect-panel").display = not shown
        self.query_one(EmbeddingMapView).display = shown
        if shown and not self.map_asked:  # an SVD of the whole table: in a worker
            self.map_asked = True
            self.compute_map()
        if not shown:  # once it is laid out again: a hidden widget takes no focus
            self.call_after_refresh(text.focus)
        self.refresh_view()

    @on(SurpriseView.Moved)
    def moved(self) -> None:
        self.refresh_view()

    @work(thread=True, exclusive=True, group="internals", exit_on_error=False)
    def compute_internals(self, n: int) -> None:
        with self.forward_lock:
            self.ins.internals_of(n, self.model)
        self.post_message(InternalsReady())

    @work(thread=True, exclusive=True, group="lens", exit_on_error=False)
    def compute_lens(self, n: int) -> None:
        with self.forward_lock:
            self.ins.lens_of(n, self.model, k=LENS_K)
        self.post_message(LensReady())

    @work(thread=True, exclusive=True, group="map", exit_on_error=False)
    def compute_map(self) -> None:
        try:
            emap = embedding_map(self.model, self.ins.vocab)
        except CharLMError as e:
            self.post_message(MapReady(None, f"no map: {e}"))
            return
        why = "" if emap else "no map: this model has no embedding table to map"
        self.post_message(MapReady(emap, why))

    @on(LensReady)
    def lens_ready(self) -> None:
        self.refresh_view()

    @on(MapReady)
    def map_ready(self, message: MapReady) -> None:
        self.query_one(EmbeddingMapView).show(message.emap, message.why)
        self.refresh_view()

    @on(InternalsReady)
    def internals_ready(self) -> None:
        self.refresh_view()

    # -- what the panel and the text show -------------------------------------------------

    def refresh_view(self) -> None:
        if not self.is_mounted:
            return
        view = self.query_one(SurpriseView)
        n, ins = view.cursor, self.ins
        cursor = self.query_one("#inspect-cursor", Static)
        top = self.query_one(NextChar)
        top.display = self.view != "lens"  # the lens's last row is the same prediction
        if self.map_shown:
            self.show_map(n)
            return
        if n == 0:
            cursor.update(Text.assemble(
                (char_label(ins.text[0]), "bold"),
                " · the first character: nothing predicts it, it is only context",
            ))  # fmt: skip
            top.explain("no prediction for the first character")
        else:
            p, loss_bits = float(ins.prob[n]), float(ins.loss[n]) / LN2
            cursor.update(Text.assemble(
                (char_label(ins.text[n]), "bold"),
                f" #{n:,}\n", (f"{loss_bits:.2f} bits", SURPRISE.style(loss_bits)),
                f" · p {p:.1%} · rank {int(ins.rank[n])}",
            ))  # fmt: skip
            top.show([Choice(c, q, q) for c, q in ins.top(n)], actual=ins.text[n])
        self.show_internals(view, n)

    def show_legend(self, scale: Scale, note: str) -> None:
        legend = scale_legend(scale, note)
        if self.ins.unseen:
            legend.append("\n")
            legend.append_text(unseen_legend(self.ins))
        self.query_one("#inspect-legend", Static).update(legend)

    def show_map(self, n: int) -> None:
        """The map, the character at the cursor marked; the legend its kinds' colours."""
        shown = self.query_one(EmbeddingMapView)
        shown.mark(self.ins.text[n])
        emap = shown.emap
        legend = self.query_one("#inspect-legend", Static)
        if emap is None:
            legend.update(Text("m: back to the text", style="dim"))
            return
        legend.update(class_legend({char_class(ch) for ch in emap.chars}))

    def show_lens(self, view: SurpriseView, n: int) -> None:
        """The logit lens of prediction n, each block's guesses, in the panel's section."""
        panel = self.query_one("#inspect-internals", Static)
        view.show_weights(None)
        self.show_legend(SURPRISE, "g: lens off")
        if self.no_lens:
            panel.update(Text(self.no_lens, style="dim"))
            return
        if n == 0:
            panel.update(Text("no prediction for the first character", style="dim"))
            return
        lens = self.ins.lens_cached(n, LENS_K)
        if lens is None:  # one forward pass, in a worker: never on this thread
            panel.update(Text("reading the residual stream after each block…", "dim"))
            self.compute_lens(n)
            return
        panel.update(lens_table(lens, self.ins.text[n]))

    def show_internals(self, view: SurpriseView, n: int) -> None:
        panel = self.query_one("#inspect-internals", Static)
        title = "logit lens" if self.view == "lens" else self.internals_title()
        self.query_one("#inspect-section", Label).update(title)
        if self.view == "lens":
            self.show_lens(view, n)
            return
        surprise_note = "grey: first character, no prediction"
        if self.ins.kind is None:
            panel.update(Text(self.reason, style="dim"))
            view.show_weights(None)
            self.show_legend(SURPRISE, surprise_note)
            return
        if self.view == "surprise":
            lens = "" if self.no_lens else "\ng: each block's guesses"
            panel.update(Text(f"a: colour the text by what this prediction looked at{lens}", "dim"))
            view.show_weights(None)
            self.show_legend(SURPRISE, surprise_note)
            return
        scale = ATTENTION if self.ins.kind == "attention" else STATE_CHANGE
        internals = self.ins.cached(max(n, 1))
        if internals is None:  # one forward pass, in a worker: never on this thread
            panel.update(Text("reading what this prediction looked at…", "dim"))
            view.show_weights(None)
            self.compute_internals(max(n, 1))
            return
        layer = self.layer % internals.n_layer
        where = f"layer {layer + 1} of {internals.n_layer}"
        if self.ins.kind == "attention":
            which = (
                f"mean of {internals.n_head} heads"
                if self.head is None
                else f"head {self.head + 1} of {internals.n_head}"
            )
            where += f" · {which}\nh: next head · l: next layer"
        else:
            where += "\nl: next layer"
        weights = self.ins.weights(n, self.model, layer, self.head) if n else {}
        view.show_weights(weights, scale)
        lines = Text(where + "\n", style="dim")
        strongest = sorted(weights.items(), key=lambda kv: -kv[1])[:3]
        for i, w in strongest:
            lines.append(f"{char_label(self.ins.text[i])}", style="bold")
            lines.append(f" {n - i} back ", style="dim")
            lines.append(f"{w:.0%}\n" if scale is ATTENTION else f"{w:.3f}\n")
        panel.update(lines)
        self.show_legend(scale, "grey: not read")
