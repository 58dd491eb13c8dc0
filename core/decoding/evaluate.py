"""Metrics of next-character prediction: loss (nats), bits/char, top-1 and top-5 accuracy.

Two estimators share one accumulator:
- `estimate`: a fixed set of random batches per split, cheap enough for every eval
  during training;
- `evaluate_split`: every position of a split exactly once, for `charlm-tui eval`.
Both run the model in eval mode without gradients and restore its mode afterwards:
dropout left on during eval silently inflates the loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm_tui.core.measures import Metrics


class _Accumulator:
    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.top1 = 0
        self.top5 = 0
        self.n = 0

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        logits = logits.flatten(0, -2).float()
        targets = targets.flatten()
        self.loss_sum += F.cross_entropy(logits, targets, reduction="sum").item()
        k = min(5, logits.shape[-1])
        top = logits.topk(k, dim=-1).indices
        hits = top == targets[:, None]
        self.top1 += int(hits[:, 0].sum())
        self.top5 += int(hits.any(dim=-1).sum())
        self.n += targets.numel()

    def result(self) -> Metrics:
        n = max(self.n, 1)
        return Metrics(self.loss_sum / n, self.top1 / n, self.top5 / n, self.n)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no autograd for the block, then the previous mode back."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)


def fixed_batches(
    data: np.ndarray, block_size: int, batch_size: int, n_batches: int, seed: int
) -> list[np.ndarray]:
    """The same random windows at every eval, so curves show the model change, not noise."""
    g = torch.Generator().manual_seed(seed)
    offsets = np.arange(block_size + 1)
    out = []
    for _ in range(n_batches):
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=g).numpy()
        out.append(np.asarray(data[starts[:, None] + offsets], dtype=np.int64))
    return out


def estimate(
    model: nn.Module,
    batches: list[np.ndarray],
    device: torch.device | str = "cpu",
    cancelled: Callable[[], bool] = lambda: False,
    time_limit_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Metrics | None:
    """The metrics over `batches`; None if cancelled() turned true between two batches
    (Ctrl-C during a long eval). With time_limit_s, the batches that fit in it (at least
    one, always the same first ones): Metrics.n_tokens says how many were scored."""
    acc = _Accumulator()
    started = clock()
    with eval_mode(model):
        for n, windows in enumerate(batches):
            if cancelled():
                return None
            if n and time_limit_s is not None and clock() - started > time_limit_s:
                break
            w = torch.from_numpy(windows).to(device)
            logits, _ = model(w[:, :-1])
            acc.add(logits, w[:, 1:])
    return acc.result()


def evaluate_split(
    model: nn.Module,
    data: np.ndarray,
    block_size: int,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> Metrics:
    """Every target of the split once: consecutive windows of block_size characters.

    Position i of a window sees the i characters before it in that window, as in
    training, so this is the exact mean of the training objective over the split.
    """
    n_targets = len(data) - 1
    n_full = n_targets // block_size
    acc = _Accumulator()
    with eval_mode(model):
        for first in range(0, n_full, batch_size):
            rows = range(first, min(first + batch_size, n_full))
            windows = np.stack(
                [np.asarray(data[r * block_size : (r + 1) * block_size + 1]) for r in rows]
            ).astype(np.int64)
            w = torch.from_numpy(windows).to(device)
            logits, _ = model(w[:, :-1])
            acc.add(logits, w[:, 1:])
            if progress:
                progress(rows[-1] + 1, n_full + 1)
        tail = np.asarray(data[n_full * block_size :], dtype=np.int64)
        if len(tail) > 1:
            w = torch.from_numpy(tail)[None].to(device)
            logits, _ = model(w[:, :-1])
            acc.add(logits, w[:, 1:])
        if progress:
            progress(n_full + 1, n_full + 1)
    return acc.result()
