"""A corpus (core/text/corpus.py) -> encoded train/val arrays -> random batches.

Encoded corpora are cached under the data folder (core/paths.py) as `.npy` files keyed
by the text's hash and memory-mapped, so a large corpus is encoded once and never
copied into every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import torch

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write
from charlm_tui.core.paths import data_dir
from charlm_tui.core.text.corpus import Corpus, split_point
from charlm_tui.core.text.vocab import Vocab


def encode_cached(corpus: Corpus, vocab: Vocab, cache: bool = True) -> np.ndarray:
    """The corpus's ids under `vocab`, memory-mapped from a cached encoding when there is
    one. A new cache file is written a piece at a time, never held whole in memory."""
    vocab_key = hashlib.sha256(vocab.chars.encode("utf-8", errors="surrogatepass")).hexdigest()
    path = data_dir() / "cache" / f"{corpus.sha256[:24]}-{vocab_key[:8]}.{vocab.dtype.name}.npy"
    if cache and path.is_file():
        try:
            arr = np.load(path, mmap_mode="r")
            if _cache_matches(arr, corpus, vocab):
                return arr
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below
    data = corpus.utf8()
    if cache and corpus.n_chars >= 1 << 16:  # small corpora encode faster than they load
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f: _write_npy(f, data, corpus, vocab))
            return np.load(path, mmap_mode="r")
        except OSError:
            pass  # an unwritable data folder only costs us the encoding next time
    out = np.empty(corpus.n_chars, dtype=vocab.dtype)
    at = 0
    for ids in _encoded(data, corpus, vocab):
        out[at : at + len(ids)] = ids
        at += len(ids)
    return out


def _encoded(data: bytes, corpus: Corpus, vocab: Vocab) -> Iterator[np.ndarray]:
    """The corpus's ids a piece at a time, refused (before the last piece) when they are
    not the n_chars the corpus described: its file changed since it was read."""
    written = 0
    for ids in vocab.encode_utf8(data):
        written += len(ids)
        if written > corpus.n_chars:
            break
        yield ids
    if written != corpus.n_chars:
        raise CharLMError(
            f"the corpus {corpus.spec!r} changed while it was being read: run the command again"
        )


def _write_npy(f: IO[bytes], data: bytes, corpus: Corpus, vocab: Vocab) -> None:
    """A .npy file (format 1.0) written piece by piece; a refusal inside atomic_write
    leaves no file."""
    header = {"descr": np.lib.format.dtype_to_descr(vocab.dtype), "fortran_order": False,
              "shape": (corpus.n_chars,)}  # fmt: skip
    np.lib.format.write_array_header_1_0(f, header)
    for ids in _encoded(data, corpus, vocab):
        f.write(memoryview(np.ascontiguousarray(ids, dtype=vocab.dtype)))  # no copy


def _cache_matches(arr: np.ndarray, corpus: Corpus, vocab: Vocab) -> bool:
    """Whether a cached encoding is the encoding of the corpus: right shape and type,
    every id inside the vocabulary, and its first ids (and, with the text at hand, its
    last) those of the text's first (and last) piece. A zero-filled, truncated or
    poisoned file fails, and is rebuilt, instead of training on the wrong characters."""
    if arr.shape != (corpus.n_chars,) or arr.dtype != vocab.dtype:
        return False
    if len(arr) and int(arr.max()) >= len(vocab):
        return False
    try:
        head = _ids(corpus.head(), vocab)
        tail = _ids(corpus.tail(), vocab)
    except (CharLMError, UnicodeDecodeError):  # a character the vocabulary lacks: not it
        return False
    if len(head) > len(arr) or len(tail) > len(arr):
        return False
    return bool(
        np.array_equal(np.asarray(arr[: len(head)]), head)
        and np.array_equal(np.asarray(arr[len(arr) - len(tail) :]), tail)
    )


def _ids(data: bytes, vocab: Vocab) -> np.ndarray:
    pieces = list(vocab.encode_utf8(data))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=vocab.dtype)


@dataclass
class Dataset:
    corpus: Corpus
    vocab: Vocab
    train: np.ndarray
    val: np.ndarray

    def split(self, name: str) -> np.ndarray:
        if name not in ("train", "val"):
            raise CharLMError(f"--split must be 'train' or 'val', not {name!r}")
        return self.train if name == "train" else self.val


def make_dataset(
    corpus: Corpus, val_fraction: float, vocab: Vocab | None = None, cache: bool = True
) -> Dataset:
    if not 0.0 < val_fraction < 1.0:
        raise CharLMError(f"--val-fraction must be between 0 and 1 (exclusive), not {val_fraction}")
    vocab = vocab or Vocab(corpus.chars)
    ids = encode_cached(corpus, vocab, cache=cache)
    cut = split_point(len(ids), val_fraction)
    return Dataset(corpus=corpus, vocab=vocab, train=ids[:cut], val=ids[cut:])


def stream_seed(*key: int) -> int:
    """A 64-bit seed mixed from integers: nearby keys give unrelated random streams."""
    return int(
        np.random.SeedSequence([k & 0xFFFFFFFF for k in key]).generate_state(1, np.uint64)[0]
    )


class BatchSampler:
    """Random windows of block_size+1 characters; batch i of rank r depends on (seed, r, i) only.

    So a resumed run sees the batches an uninterrupted one would, on every rank of a
    DDP job, with no generator state to save and gather.

    On a GPU (`resident`) the whole split is copied to the device once and each batch is
    gathered there: per step only the batch's start offsets cross to the device, with
    no host round trip. The batches are the same either way (tested on CPU).
    """

    def __init__(
        self,
        data: np.ndarray,
        block_size: int,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        rank: int = 0,
        resident: bool | None = None,
    ) -> None:
        self.data = data
        self.block_size = block_size
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.seed, self.rank = seed, rank
        self.generator = torch.Generator()
        self._offsets = np.arange(block_size + 1)
        self.resident = self.device.type == "cuda" if resident is None else resident
        if self.resident:
            self._table = torch.from_numpy(np.asarray(data).astype(np.int64)).to(self.device)
            self._device_offsets = torch.arange(block_size + 1, device=self.device)

    def next(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.generator.manual_seed(stream_seed(self.seed, self.rank, iteration))
        starts_t = torch.randint(
            len(self.data) - self.block_size, (self.batch_size,), generator=self.generator
        )
        if self.resident:
            on = self.device.type == "cuda"
            starts_d = (starts_t.pin_memory() if on else starts_t).to(self.device, non_blocking=on)
            windows = self._table[starts_d[:, None] + self._device_offsets]
            return windows[:, :-1], windows[:, 1:]
        starts = starts_t.numpy()
        windows = torch.from_numpy(self.data[starts[:, None] + self._offsets].astype(np.int64))
        if self.device.type == "cuda":
            windows = windows.pin_memory().to(self.device, non_blocking=True)
        else:
            windows = windows.to(self.device)
        return windows[:, :-1], windows[:, 1:]
