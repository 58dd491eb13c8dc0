"""Character vocabulary: the sorted set of characters of a corpus."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from charlm_tui.core.errors import CharLMError


def _codepoints(text: str) -> np.ndarray:
    # utf-32 gives one fixed-width unit per character, so numpy can work on the
    # whole text at once; surrogatepass keeps lone surrogates from raising.
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")


def describe_chars(chars: Iterable[str], limit: int = 12) -> str:
    """A short, printable list of characters: 'a', '\\n', U+0301 ..."""
    shown = []
    chars = list(chars)
    for ch in chars[:limit]:
        shown.append(repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}")
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return ", ".join(shown) + more


class Vocab:
    """Maps characters to ids 0..V-1 in code-point order, and back."""

    def __init__(self, chars: str) -> None:
        if not chars:
            raise CharLMError("the vocabulary is empty: the corpus has no characters")
        if len(set(chars)) != len(chars) or list(chars) != sorted(chars):
            raise CharLMError("a vocabulary must be sorted distinct characters")
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self._cps = _codepoints(chars)

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned type that holds every id: uint8 for most corpora."""
        if len(self) <= 2**8:
            return np.dtype(np.uint8)
        if len(self) <= 2**16:
            return np.dtype(np.uint16)
        return np.dtype(np.uint32)

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that are not in the vocabulary, in order of first use."""
        seen: dict[str, None] = {}
        for ch in text:
            if ch not in self.stoi:
                seen.setdefault(ch)
        return list(seen)

    def check(self, text: str, what: str = "text") -> None:
        missing = self.unknown(text)
        if missing:
            raise CharLMError(
                f"{what} has {len(missing)} character(s) outside the model's vocabulary "
                f"of {len(self)}: {describe_chars(missing)}"
            )

    def encode(self, text: str, what: str = "text") -> list[int]:
        self.check(text, what)
        return [self.stoi[ch] for ch in text]

    def encode_array(self, text: str, what: str = "text") -> np.ndarray:
        """Vectorised encode for whole corpora."""
        ids = self._ids(_codepoints(text))
        if ids is None:
            self.check(text, what)
        return ids

    def _ids(self, cps: np.ndarray) -> np.ndarray | None:
        """The ids of code points, or None when one is not in the vocabulary: a table
        lookup per character of the Basic Multilingual Plane (6x faster than a binary
        search of the vocabulary over 100 MB of Russian and Japanese:
        bench/corpus_scale.py --mixed), a search for the rest."""
        table = self._bmp_table()
        bmp = cps < len(table)
        if bmp.all():
            ids = table[cps]
        else:
            ids = np.empty(len(cps), dtype=table.dtype)
            ids[bmp] = table[cps[bmp]]
            astral = cps[~bmp]
            found = np.minimum(np.searchsorted(self._cps, astral), len(self) - 1)
            ids[~bmp] = np.where(self._cps[found] == astral, found, -1)
        if len(ids) and int(ids.min()) < 0:
            return None
        return ids.astype(self.dtype)

    def _bmp_table(self) -> np.ndarray:
        """Id of each code point below U+10000 (-1: not in the vocabulary), made once."""
        table = getattr(self, "_table", None)
        if table is None:
            table = np.full(0x10000, -1, dtype=np.int32)
            bmp = self._cps[self._cps < 0x10000]
            table[bmp] = np.arange(len(bmp), dtype=np.int32)  # sorted: BMP ids come first
            self._table = table
        return table

    def encode_utf8(self, data: bytes, what: str = "the corpus") -> Iterator[np.ndarray]:
        """The ids of UTF-8 text, a piece at a time (core/text/corpus.py `chunks`): ASCII
        pieces through one bytes.translate (a table from byte to id), others through
        code points. Never the whole text as a str or as 4- or 8-byte code points."""
        from charlm_tui.core.text.corpus import chunks

        table, ascii_known = self._ascii_table()
        for _, piece in chunks(data):
            if piece.isascii() and table is not None:
                if piece.translate(None, ascii_known):  # a byte outside the vocabulary
                    self.check(piece.decode("ascii"), what)
                yield np.frombuffer(piece.translate(table), np.uint8)
            else:
                yield self.encode_array(piece.decode("utf-8", errors="surrogatepass"), what)

    def _ascii_table(self) -> tuple[bytes | None, bytes]:
        """(a bytes.translate table from each ASCII byte to its id, the ASCII bytes in the
        vocabulary); no table when ids do not fit a byte."""
        known = bytes(ord(ch) for ch in self.chars if ord(ch) < 128)
        if self.dtype != np.uint8:
            return None, known
        table = bytearray(256)
        for ch in known:
            table[ch] = self.stoi[chr(ch)]
        return bytes(table), known

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)
