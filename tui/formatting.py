"""Numbers, durations, paths, status words and untrusted text as people read them.

Pure functions (no Textual): the dashboard, home, `runs` and the headless console all
use them, so every place says things the same way.
"""

from __future__ import annotations

import math

from rich.cells import cell_len
from rich.text import Text

from charlm_tui.core.text.display import escape_char, visible


def fmt_count(n: float) -> str:
    """A count in a few characters: 950, 12.3k, 4.1M, 1.2G."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def fmt_duration(seconds: float | None, clock: bool = True) -> str:
    """Seconds as people read them: a clock (`02:05`, `1:02:05`) where time counts up or
    down (elapsed, ETA); compact (`45s`, `2m05s`, `1h02m`) in tables and on axes.
    `--:--` / `–` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--" if clock else "–"
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if clock:
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


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


def cut_words(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut at a word's end with an ellipsis ("Enter:
    again…", never "Ente…") unless that would lose more than half of it."""
    if cell_len(text) <= width:
        return text
    head = cut_end(text, width)[:-1]
    space = head.rfind(" ")
    if space > len(head) // 2:
        head = head[:space].rstrip(" ·,:;")
    return head + "…" if width > 0 else ""


# -- status words ------------------------------------------------------------------------------

# One set of words for a run's state: README, `charlm-tui runs`, home and the dashboard.
# The done reasons are the `reason` of a run's last `done` record (core/training/trainer.py,
# core/training/steering.py STOPS); the others are told from the lock, control.json and
# whether the records can be read (core/runs/view.py `RunView.status`).
STATUS_WORDS: dict[str, str] = {
    "new": "no training has started in it yet",
    "running": "a process is training it now (it holds the run's lock)",
    "paused": "running, paused from a dashboard or control.json",
    "finished": "trained for its whole length",
    "stopped": "stopped from a dashboard or control.json; last.pt saved",
    "interrupted": "stopped by Ctrl-C; last.pt saved",
    "terminated": "stopped by SIGTERM (a scheduler, `timeout`) or SIGHUP (its terminal "
    "closed); last.pt saved",
    "diverged": "stopped at a non-finite loss, before a bad step; checkpoints intact",
    "failed": "a checkpoint or record could not be written; the last checkpoint is intact",
    "killed": "its process died without finishing (kill -9, power loss); resume from last.pt",
    "unreadable": "its records cannot be read",
    "imported": "trained elsewhere (`import nanogpt`); best.pt holds its model",
}
DONE_REASONS = (
    "finished", "stopped", "interrupted", "terminated", "diverged", "failed"
)  # fmt: skip


def status_word(raw: str) -> str:
    """The word for a run's status (core/runs/view.py `RunView.status`): one of
    STATUS_WORDS, or the escaped text a foreign record wrote (shown, never hidden)."""
    return raw if raw in STATUS_WORDS else visible(raw)


def describe_status(word: str) -> str:
    return STATUS_WORDS.get(word, "written by another tool or version")
