"""Corpora: what --data names (a text file, a folder of *.txt, or a built-in) read as
one text, checked as UTF-8, with Windows line endings made "\n"."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import Unreadable, atomic_write_bytes, atomic_write_text, open_regular
from charlm_tui.core.paths import data_dir
from charlm_tui.core.text.corpora import BUILTINS
from charlm_tui.core.values import is_int

ENCODING_ERRORS = ("strict", "replace")
# The --data of a run imported without its corpus (core/models/nanogpt.py): no file.
UNKNOWN_CORPUS = "(unknown)"


def _file_bytes(path: Path, max_bytes: int | None = None, flag: str = "--data") -> bytes:
    """A file given by the user: a regular file only (a FIFO would block, a device never
    end), no larger than max_bytes, checked before reading."""
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise CharLMError(
                    f"{flag} {path} is {size:,} bytes: at most {max_bytes:,} are read "
                    "at once (cut it)"
                )
            return f.read()
    except Unreadable:
        raise CharLMError(f"cannot read {path}: not a regular file") from None
    except PermissionError:
        raise CharLMError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise CharLMError(f"cannot read {path}: {e.strerror or e}") from None


def _not_utf8(path: Path, raw: bytes, at: int) -> CharLMError:
    return CharLMError(
        f"{path} is not valid UTF-8: byte 0x{raw[at]:02x} at offset {at} "
        "(pass --encoding-errors replace to substitute U+FFFD)"
    )


def read_text_file(
    path: Path, encoding_errors: str = "strict", max_bytes: int | None = None, flag: str = "--data"
) -> str:
    """A text file given by the user (--file of inspect): decoded whole, so small."""
    raw = _file_bytes(path, max_bytes, flag)
    try:
        return raw.decode("utf-8", errors=encoding_errors)
    except UnicodeDecodeError as e:
        raise _not_utf8(path, raw, e.start) from None


# Bytes of UTF-8 worked on at a time. A piece's temporaries (its str, UTF-32 code points,
# index arrays) take ~20x its size on the code-point path: at 8 MiB they were 3.2x a
# 100 MB corpus's peak memory; at 2 MiB 1.6x, and cache-sized pieces run faster too
# (bench/corpus_scale.py).
CHUNK = 1 << 21


@dataclass(frozen=True)
class Corpus:
    """What --data names, read: its text as UTF-8 bytes (never one Python str, which
    takes up to 4 bytes a character) and what was worked out from them in bulk."""

    spec: str  # what the user passed to --data
    sources: tuple[str, ...]
    chars: str  # its distinct characters, sorted: a new model's vocabulary
    n_chars: int
    sha256: str  # of the normalised text's UTF-8: what a resume and the caches compare
    crlf: int = 0  # Windows line endings turned into "\n" (0 with --keep-crlf)
    # The normalised text as UTF-8; None when it came from the corpus index (reread on
    # demand: a cached encoding usually makes that unnecessary).
    data: bytes | None = field(default=None, repr=False, compare=False)
    reader: tuple[str, bool] = ("strict", False)  # (encoding_errors, keep_crlf)

    @classmethod
    def of_text(cls, spec: str, text: str, sources: tuple[str, ...], crlf: int = 0) -> Corpus:
        return cls.of_utf8(spec, text.encode("utf-8", errors="surrogatepass"), sources, crlf)

    @classmethod
    def of_utf8(cls, spec: str, data: bytes, sources: tuple[str, ...], crlf: int = 0) -> Corpus:
        from concurrent.futures import ThreadPoolExecutor  # not for `--help`

        # hashlib lets go of the GIL on big inputs: the hash runs beside the scan.
        with ThreadPoolExecutor(1) as pool:
            sha = pool.submit(lambda: hashlib.sha256(data).hexdigest())
            chars, n = scan_utf8(data)
            return cls(spec, sources, chars, n, sha.result(), crlf, data)

    def utf8(self) -> bytes:
        """The normalised text as UTF-8, read again if this corpus came from the index."""
        if self.data is not None:
            return self.data
        again = load_corpus(self.spec, *self.reader, indexed=False)
        described = (self.sha256, self.chars, self.n_chars, self.crlf)
        if (again.sha256, again.chars, again.n_chars, again.crlf) != described:
            # The index described another text (a file rewritten with its size and times
            # put back, or an entry someone edited): forget it, so the next run reads.
            _forget(self.spec, self.reader)
            raise CharLMError(
                f"the corpus {self.spec!r} is not what was read before: run the command again"
            )
        return again.utf8()

    def head(self) -> bytes:
        """The normalised text's first piece (at most CHUNK bytes), read from its first
        file when this corpus came from the index: what a cached encoding is checked
        against."""
        if self.data is not None:
            return next((piece for _, piece in chunks(self.data)), b"")
        try:
            with open_regular(Path(self.sources[0])) as f:
                part = f.read(CHUNK)
        except (OSError, IndexError):
            return b""
        part = part[: part.rfind(b"\n") + 1]  # whole lines: a cut "\r\n" or character
        encoding_errors, keep_crlf = self.reader
        if not keep_crlf:
            part = part.replace(b"\r\n", b"\n")
        if encoding_errors == "replace":
            part = part.decode("utf-8", errors="replace").encode("utf-8")
        return part

    def tail(self) -> bytes:
        """The text's last piece when it is at hand (from the first whole character)."""
        if self.data is None:
            return b""
        part = self.data[-CHUNK:]
        skip = 0
        while skip < min(3, len(part)) and part[skip] & 0xC0 == 0x80:
            skip += 1
        return part[skip:]

    @property
    def text(self) -> str:
        """The whole text as one str: for small corpora (tests, a slice) only."""
        return self.utf8().decode("utf-8", errors="surrogatepass")


def load_corpus(
    spec: str, encoding_errors: str = "strict", keep_crlf: bool = False, indexed: bool = True
) -> Corpus:
    """Resolve --data: a built-in name, a file, or a directory of *.txt files.

    Windows line endings become "\n" unless keep_crlf: otherwise "\r" is a character
    of the vocabulary, samples glue words on a terminal and `sample` writes CRLF back.
    The corpus hash (and the caches keyed by it) follow the normalised text.

    A file or folder read before, unchanged since (same inode, size, modification and
    change times), is described from the corpus index in the data folder without
    reading it: a second start on a 1 GB corpus does not read 1 GB again."""
    if spec == UNKNOWN_CORPUS:
        raise CharLMError(
            "the corpus this model trained on is unknown (an imported run): name it with --data"
        )
    if encoding_errors not in ENCODING_ERRORS:
        raise CharLMError(
            f"--encoding-errors must be one of {', '.join(ENCODING_ERRORS)}, "
            f"not {encoding_errors!r}"
        )
    path = Path(spec).expanduser()
    try:
        key = _index_key(spec, path, encoding_errors, keep_crlf) if indexed else None
        if key is not None and (known := _indexed(key, spec, (encoding_errors, keep_crlf))):
            return known
        data, sources = _read_spec(spec, path, encoding_errors)
    except OSError as e:  # a name too long, a loop of links, a device that fails...
        raise CharLMError(f"cannot read --data {spec[:80]!r}: {e.strerror or e}") from None
    if not data:
        raise CharLMError(f"the corpus {spec!r} is empty")
    # `in` first: memchr finds a "\r" ~8x faster than count() matches two bytes.
    crlf = 0 if keep_crlf or b"\r" not in data else data.count(b"\r\n")
    if crlf:  # bytes, not text: "\r" and "\n" are never inside a UTF-8 sequence
        data = data.replace(b"\r\n", b"\n")
    corpus = Corpus.of_utf8(spec, data, tuple(sources), crlf)
    corpus = dataclasses.replace(corpus, reader=(encoding_errors, keep_crlf))
    if key is not None:
        _remember(key, corpus)
    return corpus


def _read_spec(spec: str, path: Path, encoding_errors: str) -> tuple[bytes, list[str]]:
    if spec in BUILTINS and not path.exists():
        text, sources = _load_builtin(spec)
        return text.encode("utf-8", errors="surrogatepass"), sources
    if path.is_dir():
        files = _txt_files(path)
        if not files:
            raise CharLMError(f"{path} is a directory with no *.txt files in it")
        parts = [read_utf8_file(p, encoding_errors) for p in files]
        data = b"".join(t if t.endswith(b"\n") or not t else t + b"\n" for t in parts)
        return data, [str(p) for p in files]
    if path.is_file():
        return read_utf8_file(path, encoding_errors), [str(path)]
    if path.exists():
        raise CharLMError(f"{path} is neither a file nor a directory")
    names = ", ".join(sorted(BUILTINS))
    raise CharLMError(f"no such file, directory or built-in corpus: {spec!r} (built-ins: {names})")


def _txt_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.txt") if p.is_file())


def read_utf8_file(path: Path, encoding_errors: str = "strict") -> bytes:
    """A corpus file's bytes, checked as UTF-8 a piece at a time (never decoded whole);
    with encoding_errors "replace", invalid bytes become U+FFFD."""
    raw = _file_bytes(path)
    bad = first_invalid_utf8(raw)
    if bad is None:
        return raw
    if encoding_errors == "replace":
        return raw.decode("utf-8", errors="replace").encode("utf-8")
    raise _not_utf8(path, raw, bad)


def chunks(data: bytes, size: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(offset, piece) of `data`, cut only between UTF-8 characters."""
    size = size or CHUNK
    start, n = 0, len(data)
    while start < n:
        end = cut = min(start + size, n)
        for _ in range(3):  # inside a character (at most 3 continuation bytes): back up
            if start < cut < n and data[cut] & 0xC0 == 0x80:
                cut -= 1
        if cut < n and data[cut] & 0xC0 == 0x80:
            cut = end  # not UTF-8 here: any cut will do, the decoder names the bad byte
        elif cut == start:  # a piece smaller than its first character: take the character
            cut = end
            while cut < n and cut - start < 4 and data[cut] & 0xC0 == 0x80:
                cut += 1
        yield start, data[start:cut]
        start = cut


def first_invalid_utf8(data: bytes) -> int | None:
    """The offset of the first byte that is not valid UTF-8, or None."""
    if data.isascii():  # one pass at memory speed, without the pieces' copies
        return None
    for at, piece in chunks(data):
        if piece.isascii():
            continue
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError as e:
            return at + e.start
    return None


def scan_utf8(data: bytes) -> tuple[str, int]:
    """(its distinct characters sorted, how many characters) of UTF-8 text, in bulk: ASCII
    pieces through bytes.translate (deleting the bytes already seen leaves only new
    ones), others as code points through numpy. Lone surrogates pass (a str from code)."""
    import numpy as np  # here, not at the top: `--help` imports this module (37 ms)

    seen_ascii = np.zeros(128, dtype=bool)
    seen_bmp = np.zeros(0x10000, dtype=bool)
    astral: set[int] = set()
    known = b""
    n = 0
    for _, piece in chunks(data):
        if piece.isascii():
            n += len(piece)
            if new := piece.translate(None, known):
                seen_ascii |= np.bincount(np.frombuffer(new, np.uint8), minlength=128) > 0
                known = bytes(np.flatnonzero(seen_ascii).tolist())
            continue
        # Python's decoder and UTF-32 encoder run at ~2 GB/s: 3-17x faster than working
        # the code points out of the bytes in numpy (measured on 2 MiB pieces).
        text = piece.decode("utf-8", errors="surrogatepass")
        n += len(text)
        cps = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), "<u4")
        if len(cps) and int(cps.max()) < 0x10000:
            seen_bmp[cps] = True  # a scatter: 1.4x faster than bincount
        else:
            seen_bmp[cps[cps < 0x10000]] = True
            astral.update(np.unique(cps[cps >= 0x10000]).tolist())
    seen_bmp[:128] |= seen_ascii
    found = [*np.flatnonzero(seen_bmp).tolist(), *sorted(astral)]
    return "".join(map(chr, found)), n


# -- the corpus index: files read before, described without reading them ----------------------

INDEX = "corpora.json"
INDEX_KEPT = 64  # entries: the corpora one person trains on, with room to spare


INDEX_FILES = 256  # a folder of more files is read each time: its entry would crowd the index


def _index_key(spec: str, path: Path, encoding_errors: str, keep_crlf: bool) -> str | None:
    """What identifies a file corpus without reading it: a digest of its files' paths,
    inodes, sizes and modification and change times (and how it is read). The change
    time moves with every write and with `touch`/`utime`, which can put an mtime back (a
    same-size rewrite within one tick of a coarse clock, as on FAT, is not seen; the
    cached encoding's check against the text's head is the next line of defence).
    None for a built-in, or a corpus the index does not keep."""
    if not (path.is_file() or path.is_dir()):
        return None  # a built-in, or what _read_spec explains
    files = _txt_files(path) if path.is_dir() else [path]
    if len(files) > INDEX_FILES:
        return None
    stats = []
    for f in files:
        st = f.stat()
        stats.append([str(f.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                      st.st_ctime_ns])  # fmt: skip
    key = json.dumps([encoding_errors, keep_crlf, stats])
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


def _index_path() -> Path:
    return data_dir() / "cache" / INDEX


def _read_index() -> dict[str, Any]:
    try:
        with open_regular(_index_path()) as f:
            raw = json.loads(f.read(1 << 22))
    except (OSError, ValueError, RecursionError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _indexed(key: str, spec: str, reader: tuple[str, bool]) -> Corpus | None:
    """The corpus the index describes under `key`, checked like any file from anyone."""
    entry = _read_index().get(key)
    if not isinstance(entry, dict):
        return None
    chars, n, sha, crlf = (entry.get(k) for k in ("chars", "n_chars", "sha256", "crlf"))
    sources = entry.get("sources")
    if not (isinstance(chars, str) and chars and list(chars) == sorted(set(chars))):
        return None
    if not (is_int(n) and n >= len(chars) and is_int(crlf) and crlf >= 0):
        return None
    if not (isinstance(sha, str) and len(sha) == 64 and isinstance(sources, list)):
        return None
    if not all(isinstance(s, str) for s in sources):
        return None
    return Corpus(spec, tuple(sources), chars, n, sha, crlf, None, reader)


def _forget(spec: str, reader: tuple[str, bool]) -> None:
    key = _index_key(spec, Path(spec).expanduser(), *reader)
    index = _read_index()
    if key is not None and index.pop(key, None) is not None:
        _write_index(index)


def _write_index(index: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # a read-only data folder costs a read next time
        _index_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_index_path(), json.dumps(index, ensure_ascii=False), durable=False)


def _remember(key: str, corpus: Corpus) -> None:
    if corpus.n_chars < 1 << 20:  # small corpora read faster than the index is kept
        return
    index = _read_index()
    index.pop(key, None)
    index[key] = {"chars": corpus.chars, "n_chars": corpus.n_chars, "sha256": corpus.sha256,
                  "crlf": corpus.crlf, "sources": list(corpus.sources)}  # fmt: skip
    _write_index(dict(list(index.items())[-INDEX_KEPT:]))  # the most recently read last


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
