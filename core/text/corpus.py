"""Corpora: what --data names (a text file, a folder of *.txt, or a built-in) read as
one text, checked as UTF-8, with Windows line endings made "\n"."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import Unreadable, atomic_write_bytes, open_regular
from charlm_tui.core.paths import data_dir
from charlm_tui.core.text.corpora import BUILTINS

ENCODING_ERRORS = ("strict", "replace")


def read_text_file(
    path: Path, encoding_errors: str = "strict", max_bytes: int | None = None, flag: str = "--data"
) -> str:
    """A text file given by the user (--data, --file): a regular file only (a FIFO would
    block, a device never end), no larger than max_bytes, checked before reading."""
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise CharLMError(
                    f"{flag} {path} is {size:,} bytes: at most {max_bytes:,} are read "
                    "at once (cut it)"
                )
            raw = f.read()
    except Unreadable:
        raise CharLMError(f"cannot read {path}: not a regular file") from None
    except PermissionError:
        raise CharLMError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise CharLMError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8", errors=encoding_errors)
    except UnicodeDecodeError as e:
        raise CharLMError(
            f"{path} is not valid UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start} "
            "(pass --encoding-errors replace to substitute U+FFFD)"
        ) from None


@dataclass(frozen=True)
class Corpus:
    spec: str  # what the user passed to --data
    text: str
    sources: tuple[str, ...]
    crlf: int = 0  # Windows line endings turned into "\n" (0 with --keep-crlf)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", errors="surrogatepass")).hexdigest()


def load_corpus(spec: str, encoding_errors: str = "strict", keep_crlf: bool = False) -> Corpus:
    """Resolve --data: a built-in name, a file, or a directory of *.txt files.

    Windows line endings become "\n" unless keep_crlf: otherwise "\r" is a character
    of the vocabulary, samples glue words on a terminal and `sample` writes CRLF back.
    The corpus hash (and the caches keyed by it) follow the normalised text."""
    if encoding_errors not in ENCODING_ERRORS:
        raise CharLMError(
            f"--encoding-errors must be one of {', '.join(ENCODING_ERRORS)}, "
            f"not {encoding_errors!r}"
        )
    path = Path(spec).expanduser()
    try:
        text, sources = _read_spec(spec, path, encoding_errors)
    except OSError as e:  # a name too long, a loop of links, a device that fails...
        raise CharLMError(f"cannot read --data {spec[:80]!r}: {e.strerror or e}") from None
    if not text:
        raise CharLMError(f"the corpus {spec!r} is empty")
    crlf = 0 if keep_crlf else text.count("\r\n")
    if crlf:
        text = text.replace("\r\n", "\n")
    return Corpus(spec=spec, text=text, sources=tuple(sources), crlf=crlf)


def _read_spec(spec: str, path: Path, encoding_errors: str) -> tuple[str, list[str]]:
    if spec in BUILTINS and not path.exists():
        text, sources = _load_builtin(spec)
    elif path.is_dir():
        files = sorted(p for p in path.glob("*.txt") if p.is_file())
        if not files:
            raise CharLMError(f"{path} is a directory with no *.txt files in it")
        parts = [read_text_file(p, encoding_errors) for p in files]
        text = "".join(t if t.endswith("\n") or not t else t + "\n" for t in parts)
        sources = [str(p) for p in files]
    elif path.is_file():
        text, sources = read_text_file(path, encoding_errors), [str(path)]
    elif path.exists():
        raise CharLMError(f"{path} is neither a file nor a directory")
    else:
        names = ", ".join(sorted(BUILTINS))
        raise CharLMError(
            f"no such file, directory or built-in corpus: {spec!r} (built-ins: {names})"
        )
    return text, sources


def _load_builtin(name: str) -> tuple[str, list[str]]:
    cache_name, loader = BUILTINS[name]
    cached = data_dir() / cache_name if cache_name else None
    if cached is not None and cached.is_file():
        return cached.read_text(encoding="utf-8"), [f"builtin:{name}"]
    text, sources = loader()
    if cached is not None:
        # A read-only data folder only costs us the conversion next time.
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cached, text.encode("utf-8"))
    return text, sources


def split_point(n: int, val_fraction: float) -> int:
    """First 1 - val_fraction of the characters train, the rest validate."""
    return n - round(n * val_fraction)


def check_split_length(n_chars: int, name: str, block_size: int) -> None:
    if n_chars < block_size + 1:
        raise CharLMError(
            f"the {name} split has {n_chars} characters but --block-size {block_size} needs "
            f"at least {block_size + 1}: use a larger corpus, a smaller --block-size"
            + (" or a larger --val-fraction" if name == "val" else "")
        )
