"""A run's tags and notes: what a person calls it, kept beside its records in labels.json.

They are not part of the run's configuration: they change after the run (home edits
them), never change what it trains, and a resume or `--from` does not need them. The
options are declared once (`Labels`) for `train`, `ladder` and `--config` files; the
file is validated on every read, since a run folder may come from anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_text
from charlm_tui.core.options import option
from charlm_tui.core.runs.records import dump_json, read_json

LABELS = "labels.json"
MAX_TAG = 40
MAX_TAGS = 20
MAX_NOTES = 2000


def tag_problem(tag: str) -> str | None:
    """A tag is one word a filter can match: no spaces, commas or control characters."""
    if not tag:
        return "must not be empty"
    if len(tag) > MAX_TAG:
        return f"must be at most {MAX_TAG} characters, not {len(tag)}"
    if any(ch.isspace() or ch == "," or not ch.isprintable() for ch in tag):
        return f"must be one word without commas or control characters, not {tag!r}"
    return None


def notes_problem(notes: str) -> str | None:
    if len(notes) > MAX_NOTES:
        return f"must be at most {MAX_NOTES:,} characters, not {len(notes):,}"
    if any(not ch.isprintable() and ch != "\n" for ch in notes):
        return f"must not hold control characters (newlines excepted), not {notes[:40]!r}"
    return None


@dataclass(frozen=True)
class Labels:
    """What a person calls a run: `--tag` (repeatable) and `--notes`."""

    # Named as its flag is typed, once per tag: --tag a --tag b.
    tag: tuple[str, ...] = option(
        (),
        "A tag for the run (repeat for more): shown by runs, home, compare and the report; "
        "`runs --tag T` lists the runs that carry it.",
        "labels",
        check=tag_problem,
        metavar="TAG",
    )
    notes: str = option(
        "",
        "A note on the run: what it tries, what it found.",
        "labels",
        check=notes_problem,
        metavar="TEXT",
    )

    def check(self) -> None:
        if len(self.tag) > MAX_TAGS:
            raise CharLMError(f"--tag: at most {MAX_TAGS} tags, not {len(self.tag)}")

    def normalised(self) -> Labels:
        """Tags without repeats, in the order first given; notes without outer blanks."""
        return Labels(tuple(dict.fromkeys(self.tag)), self.notes.strip())

    @property
    def tags(self) -> tuple[str, ...]:
        return self.tag

    def as_dict(self) -> dict[str, Any]:
        return {"tags": list(self.tag), "notes": self.notes}

    def __bool__(self) -> bool:
        return bool(self.tag or self.notes)


def labels_from(data: Any) -> Labels | None:
    """Labels from labels.json's value, checked as the options are; None if it is not
    a valid labels record (a file from someone else)."""
    if not isinstance(data, dict):
        return None
    tags, notes = data.get("tags", []), data.get("notes", "")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return None
    if not isinstance(notes, str) or len(tags) > MAX_TAGS:
        return None
    if any(tag_problem(t) for t in tags) or notes_problem(notes):
        return None
    return Labels(tuple(tags), notes)


def read_labels(run_dir: Path) -> Labels:
    """The run's labels; none when it has no labels.json or the file is not valid."""
    return labels_from(read_json(run_dir / LABELS, 1 << 20)) or Labels()


def write_labels(run_dir: Path, labels: Labels) -> None:
    """Replace the run's labels (atomically: a rename, never through a link); an empty
    set removes the file."""
    labels = labels.normalised()
    path = run_dir / LABELS
    try:
        if not labels:
            if path.is_file() and not path.is_symlink():
                path.unlink()
            return
        atomic_write_text(path, dump_json(labels.as_dict(), ensure_ascii=False) + "\n")
    except OSError as e:
        raise CharLMError(f"cannot write {path}: {e.strerror or e}") from None
