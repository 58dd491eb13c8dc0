"""Showing untrusted text on a terminal: the one rule every display path uses.

Text from a model, a corpus or a run folder someone else wrote never reaches a
terminal raw. What is data (`sample` into a pipe or a file, exports, samples.jsonl)
gets the exact text; terminals, and logs read on one later (train.log, the training's
console output in a pipe), get `visible(text)` (running text) or `visible_char(ch)` /
`char_label(ch)` (a character in a cell of its own). No UI imports: the headless
printer, `inspect --format ansi` and the TUI share it.
"""

from __future__ import annotations

import re
import unicodedata

# Text from a model, a corpus or a run folder someone else wrote is untrusted: one escape
# sequence can retitle the window (OSC 2), write the clipboard (OSC 52), reset or recolour
# the screen, or move the cursor and forge what it shows; a bidi override (U+202E) can
# reverse what follows. `visible` shows every such character as the escape Python's repr
# writes for it (`\x1b`, `\x07`, `\u202e`), as the next-character view does.

_LAYOUT = "\n\t"  # kept as they are: the line breaks and indentation of the text
_JOINERS = "\u200c\u200d"  # ZWNJ, ZWJ
# An emoji flag of a region (🏴 + tag letters + cancel tag, e.g. Scotland's): the only
# place tag characters are visible. Anywhere else they are invisible ASCII look-alikes,
# used to smuggle hidden instructions into text.
_TAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
_LAYOUT_SPLIT = re.compile("[\n\t]")


def escape_char(ch: str) -> str:
    """`\\x1b`, `\\r`, `\\u202e`, `\\U000e0041`: the escape Python's repr uses for ch."""
    code = ord(ch)
    if ch == "\r":
        return "\\r"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _shown(ch: str) -> bool:
    """Draws a glyph of its own (a letter, a mark, an emoji): what a joiner may join."""
    return ch.isprintable() and not ch.isspace()


def _hidden(text: str, i: int, ch: str) -> bool:
    """Whether text[i] (not printable by Python's rule) must be shown as an escape."""
    if ch in _LAYOUT:
        return False
    category = unicodedata.category(ch)
    if category == "Zs":  # no-break and other spaces: visible as space, harmless
        return False
    if ch in _JOINERS:
        # ZWJ inside an emoji sequence (👩‍💻) and ZWNJ inside a Persian or Indic word
        # change how the letters around them are drawn: they are part of visible text
        # there. Anywhere else (leading, trailing, next to a space or another
        # invisible) they only hide something, so they are shown.
        return not (0 < i < len(text) - 1 and _shown(text[i - 1]) and _shown(text[i + 1]))
    # Cc: C0, DEL, C1 (escape sequences, bell, backspace, CR). Cf: bidi embeddings,
    # overrides, isolates and marks, zero-width space, BOM, soft hyphen, tags. Zl/Zp:
    # line and paragraph separators, which terminals draw inconsistently. Cs: lone
    # surrogates (undecodable bytes), which a terminal cannot even be sent. Co/Cn:
    # private-use and unassigned code points, which have no agreed glyph.
    return True


def visible(text: str) -> str:
    """`text` with every control and invisible character shown as a visible escape.

    For any terminal display of untrusted text (samples, generated text, corpus and
    run names, messages from files). Escaped: C0 controls but newline and tab, DEL, C1
    (0x80-0x9f), format characters (bidi overrides and isolates U+202A-202E and
    U+2066-2069, bidi marks, zero-width space, BOM, soft hyphen, tag characters
    outside an emoji flag), line/paragraph separators, lone surrogates, private-use and
    unassigned code points; ZWJ/ZWNJ only when they do not join two visible
    characters. Kept: newlines and tabs (layout), every printable character, spaces.
    A backslash already in the text is left as it is. Writing to a file or a pipe
    should use the exact text instead.
    """
    if all(part.isprintable() for part in _LAYOUT_SPLIT.split(text)):
        return text  # the common case, at C speed
    protected: set[int] = set()
    for match in _TAG_SEQUENCE.finditer(text):
        protected.update(range(match.start(), match.end()))
    out = []
    for i, ch in enumerate(text):
        if ch.isprintable() or i in protected or not _hidden(text, i, ch):
            out.append(ch)
        else:
            out.append(escape_char(ch))
    return "".join(out)


# -- showing one character ---------------------------------------------------------------
# `visible` is for running text; these two give one character a cell of its own (the
# inspect view, the next-character list), with the same escapes.

NAMES = {"\n": "⏎ newline", " ": "␣ space", "\t": "⇥ tab"}
MARKS = {"\n": "⏎", "\t": "⇥"}  # in running text; a space stays a (coloured) space
# Printable code points a terminal merges with their neighbours, or draws at a width
# rich.cells disagrees with: skin-tone modifiers (rich: 0 cells, tmux: 2), regional
# indicators (pairs become one flag), variation selectors, the grapheme joiner, and
# Hangul's conjoining vowels and finals and fillers (rich: 0 cells).
# tests/test_inspect.py checks that every code point's form has a width of its own.
_MERGING = (
    (0x034F, 0x034F),
    (0x1160, 0x11FF),
    (0x3164, 0x3164),
    (0xD7B0, 0xD7FF),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0x1F1E6, 0x1F1FF),
    (0x1F3FB, 0x1F3FF),
    (0xE0100, 0xE01EF),
)


def visible_char(ch: str) -> str:
    """One character as it can be drawn in a cell (or two) of its own, never raw.

    Control, format (zero-width, bidi), unassigned and non-ASCII space characters become
    escapes; a combining mark sits on a dotted circle, as the Unicode charts show it;
    code points terminals merge with their neighbours are escaped too. A newline and a
    tab become ⏎ and ⇥ (callers keep the line break as layout).
    """
    if ch in MARKS:
        return MARKS[ch]
    if not ch.isprintable() or any(lo <= ord(ch) <= hi for lo, hi in _MERGING):
        return escape_char(ch)
    if unicodedata.category(ch).startswith("M"):  # Mn, Mc, Me: drawn on the one before
        return "◌" + ch
    return ch


def char_label(ch: str) -> str:
    """A character in a list of choices: ⏎ newline, ␣ space, ◌́ U+0301, \\x07, e."""
    if ch in NAMES:
        return NAMES[ch]
    shown = visible_char(ch)
    if shown.startswith("◌"):
        return f"{shown} U+{ord(ch):04X}"
    return shown


def visible_line(text: str) -> str:
    """`visible(text)` for one line of a table or a status: newlines and tabs escaped too,
    so a name that holds one cannot break the row."""
    return visible(text).replace("\n", "\\n").replace("\t", "\\t")
