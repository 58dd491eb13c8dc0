"""A corpus (core/text/corpus.py) -> encoded train/val arrays -> random batches.

Encoded corpora are cached under the data folder (core/paths.py) as `.npy` files keyed
by the text's hash and memory-mapped, so a large corpus is encoded once and never
copied into every process.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import torch

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_bytes
from charlm_tui.core.paths import data_dir
from charlm_tui.core.text.corpus import Corpus, split_point
from charlm_tui.core.text.vocab import Vocab


def encode_cached(text: str, vocab: Vocab, cache: bool = True) -> np.ndarray:
    """Encode `text` with `vocab`, memory-mapping a cached copy when there is one."""
    key = hashlib.sha256(
        vocab.chars.encode("utf-8", errors="surrogatepass")
        + b"\0"
        + text.encode("utf-8", errors="surrogatepass")
    ).hexdigest()[:24]
    path = data_dir() / "cache" / f"{key}.{vocab.dtype.name}.npy"
    if cache and path.is_file():
        try:
            arr = np.load(path, mmap_mode="r")
            if _cache_matches(arr, text, vocab):
                return arr
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below
    arr = vocab.encode_array(text, what="the corpus")
    if cache and len(text) >= 1 << 16:  # small corpora encode faster than they load
        buf = io.BytesIO()
        np.save(buf, arr)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buf.getvalue())
            return np.load(path, mmap_mode="r")
        except OSError:
            pass  # an unwritable data folder only costs us the encoding next time
    return arr


def _cache_matches(arr: np.ndarray, text: str, vocab: Vocab, probes: int = 4096) -> bool:
    """Whether a cached encoding is the encoding of `text`: right shape and type, every
    id inside the vocabulary, and the ids at `probes` evenly spread positions are the
    text's own. A zero-filled or poisoned file fails, and is rebuilt, instead of
    training on the wrong characters (or an IndexError later)."""
    if arr.shape != (len(text),) or arr.dtype != vocab.dtype:
        return False
    if len(arr) and int(arr.max()) >= len(vocab):
        return False
    at = np.unique(np.linspace(0, len(text) - 1, num=min(probes, len(text)), dtype=np.int64))
    expected = vocab.encode_array("".join(text[i] for i in at), what="the corpus")
    return bool(np.array_equal(np.asarray(arr[at]), expected))


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
    vocab = vocab or Vocab.from_text(corpus.text)
    ids = encode_cached(corpus.text, vocab, cache=cache)
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
