"""Numbers, durations, paths, status words and untrusted text as people read them.

Pure functions (no Textual): the dashboard, home, `runs` and the headless console all
use them, so every place says things the same way.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

if TYPE_CHECKING:
    from core.runs import RunInfo


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def fmt_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def fmt_bytes(n: float) -> str:
    """Binary units, as `top` and `nvidia-smi` count memory: 412 MiB, 1.2 GiB."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"


# -- untrusted text ----------------------------------------------------------------------------

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


ESCAPE_STYLE = "bold magenta"  # an escape `visible` wrote, told apart from a typed `\`


def visible_text(text: str, style: str = "") -> Text:
    """`visible(text)` as Rich Text in `style`, each escape it wrote in ESCAPE_STYLE.

    Never markup: `[bold]` or `[/]` in a run name shows as those characters."""
    shown = visible(text)
    out = Text(shown, style=style, end="")
    if shown is text:
        return out
    # Stylize what visible() wrote: walk both strings together.
    i = j = 0
    while i < len(text):
        ch = text[i]
        if j < len(shown) and shown[j] == ch:
            i, j = i + 1, j + 1
            continue
        escaped = escape_char(ch)
        out.stylize(ESCAPE_STYLE, j, j + len(escaped))
        i, j = i + 1, j + len(escaped)
    return out


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle (`/home/me/…/names.txt`): a
    path's start and its file name say most about it, so the last part of a path is
    kept whole when it fits."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    keep = width - 1  # the ellipsis takes one
    tail = keep // 2 + keep % 2  # the end gets the odd cell
    slash = text.rfind("/")
    if 0 <= slash and cell_len(text[slash:]) < keep:
        tail = max(tail, cell_len(text[slash:]))
    head = keep - tail
    start = text
    while cell_len(start) > head:
        start = start[:-1]
    end = text
    while cell_len(end) > tail:
        end = end[1:]
    return start + "…" + end


def cut_end(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut at its end with an ellipsis."""
    if cell_len(text) <= width:
        return text
    while text and cell_len(text) > max(width - 1, 0):
        text = text[:-1]
    return text + "…" if width > 0 else ""


def fit_rows(
    rows: list[dict[str, str]],
    width: int,
    columns: tuple[str, ...],
    shrink: tuple[tuple[str, int], ...],
    padding: int = 2,
) -> list[dict[str, str]]:
    """Table rows whose columns fit `width` cells: `shrink` names the columns that give
    way, in order, each down to a minimum; "model" is cut at its end, the others (paths,
    names) in the middle. The rest (numbers, status, age) are never cut."""
    if not rows:
        return rows
    limits = {c: max(cell_len(c), *(cell_len(r[c]) for r in rows)) for c in columns}
    over = sum(limits.values()) + padding * len(columns) - width
    for col, least in shrink:
        if over <= 0:
            break
        if col in limits:
            cut = min(over, max(0, limits[col] - max(least, cell_len(col))))
            limits[col] -= cut
            over -= cut
    cut = {c: cut_end if c == "model" else shorten_middle for c in columns}
    return [{c: cut[c](r[c], limits[c]) for c in columns} for r in rows]


# -- status words ------------------------------------------------------------------------------

# One set of words for a run's state: README, `charlm-tui runs`, home and the dashboard.
# The done reasons are the `reason` of a run's last `done` record (core/train.py,
# core/steering.py STOP_CODES); the others are told from the lock, control.json and
# whether the records can be read (core/runs.py run_status).
STATUS_WORDS: dict[str, str] = {
    "new": "no training has started in it yet",
    "running": "a process is training it now (it holds the run's lock)",
    "paused": "running, paused from a dashboard or control.json",
    "finished": "trained for its whole length",
    "stopped": "stopped from a dashboard or control.json; last.pt saved",
    "interrupted": "stopped by Ctrl-C; last.pt saved",
    "terminated": "stopped by SIGTERM (a scheduler, `timeout`); last.pt saved",
    "hangup": "stopped when its terminal closed (SIGHUP); last.pt saved",
    "diverged": "stopped at a non-finite loss, before a bad step; checkpoints intact",
    "failed": "a checkpoint or record could not be written; the last checkpoint is intact",
    "killed": "its process died without finishing (kill -9, power loss); resume from last.pt",
    "unreadable": "its records cannot be read",
}
DONE_REASONS = (
    "finished", "stopped", "interrupted", "terminated", "hangup", "diverged", "failed"
)  # fmt: skip


def status_word(raw: str, paused: bool = False) -> str:
    """The word for a run's status: one of STATUS_WORDS, or the escaped text a
    foreign record wrote (shown, never hidden)."""
    if raw == "running" and paused:
        return "paused"
    return raw if raw in STATUS_WORDS else visible(raw)


def describe_status(word: str) -> str:
    return STATUS_WORDS.get(word, "written by another tool or version")


def run_status(info: RunInfo) -> str:
    """The status word of a listed run, `paused` included (home and `runs`)."""
    from core.control import read_control

    paused = info.status == "running" and bool(read_control(info.path)["paused"])
    return status_word(info.status, paused)
