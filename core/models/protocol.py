"""What generation and inspection ask of a model, beyond makemore's training contract.

Every model has `forward(idx, targets=None) -> (logits, loss)`, with position t of a
window seeing only the characters at or before t, and `context_size`: the window it
was trained on (block_size; 1 for the bigram).

`context_kind` says what a prediction depends on, and so how a decoder must feed it:
- "window": the characters of the current window *and where they sit in it* (GPT's
  positions, and keys computed through the layers below). Decoding reads the last
  context_size characters; once the text outgrows them, the window jumps forward by a
  quarter and a cache must be re-filled from the rest (core.decoding.sampling.window_start).
- "sliding": the last context_size characters only, at their offsets from the
  prediction (MLP, bigram). The window slides one character at a time, exactly: a
  cache is a ring of the last few ids and never needs re-filling.
- "unbounded": everything since the state was zeroed (RNN, GRU, LSTM). Training and
  eval zero the state at each window; decoding carries it through the whole text.

Incremental models (`IncrementalModel`) also decode one character at a time:
`new_cache()`, then `forward(idx, cache=cache)` to feed a prompt (or re-fill a window),
then `step(token, cache)` per new character. A model without `new_cache` is decoded
by re-reading its context each character (core.decoding.sampling.generate, use_cache=False).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import torch

ContextKind = Literal["window", "sliding", "unbounded"]


class DecodingCache(Protocol):
    """Whatever a model keeps between characters: KV cache, id ring, recurrent state."""

    length: int  # characters fed since new_cache() or reset()

    def reset(self) -> None:
        """Back to the empty context, as new_cache() returned it."""


@runtime_checkable
class IncrementalModel(Protocol):
    context_kind: ContextKind

    @property
    def context_size(self) -> int: ...

    def new_cache(self, batch: int = 1) -> DecodingCache:
        """An empty cache for `batch` sequences, on the model's device and dtype."""

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: DecodingCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """With a cache: feed idx (B, T) after what the cache holds, update the cache,
        and return logits whose last position predicts the next character (GPT returns
        that position only, the others every position's)."""

    def step(self, token: int, cache: DecodingCache) -> torch.Tensor:
        """Feed one character of a batch of one: the next character's logits (V,)."""


def context_kind(model: object) -> ContextKind:
    """The model's kind; "window" for a model that does not say (the cautious rule)."""
    return getattr(model, "context_kind", "window")
