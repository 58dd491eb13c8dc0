"""A neural probabilistic language model (Bengio et al. 2003, "A Neural Probabilistic
Language Model"), for characters as in makemore.

The previous block_size characters are embedded, concatenated, passed through one tanh
hidden layer and a linear output layer. Position t of a training window sees the
characters at or before t within the window; the missing ones before the window start
are a learned "blank" character (embedding row vocab_size), as makemore pads names.

Config fields: vocab_size, block_size (characters read), n_embd (the embedding of one
character; the hidden layer is 4 * n_embd wide, the GPT MLP's ratio), dropout (on the
hidden activations). n_layer, n_head, bias, activation and position are not used.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.models.protocol import ContextKind


class IdRing:
    """The last block_size - 1 ids seen, blanks before the text starts.

    A prediction reads only the block_size characters up to it, at fixed offsets, so
    the window slides one character at a time exactly: no re-fill, unlike a KV cache.
    """

    def __init__(self, block_size: int, blank: int, batch: int, device: torch.device) -> None:
        self.blank, self.keep = blank, block_size - 1
        self.history = torch.full((batch, self.keep), blank, dtype=torch.long, device=device)
        self.length = 0

    def reset(self) -> None:
        self.history.fill_(self.blank)
        self.length = 0


class BengioMLP(nn.Module):
    context_kind: ContextKind = "sliding"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.blank = cfg.vocab_size  # the padding character's embedding row
        hidden = 4 * cfg.n_embd
        self.wte = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd)
        self.hidden = nn.Linear(cfg.block_size * cfg.n_embd, hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(hidden, cfg.vocab_size)
        # PyTorch's default init, as makemore: with N(0, 1) embeddings each hidden unit's
        # pre-activation has variance ~1/3, so tanh starts out of saturation.

    @property
    def context_size(self) -> int:
        return self.config.block_size

    def new_cache(self, batch: int = 1) -> IdRing:
        return IdRing(self.config.block_size, self.blank, batch, self.wte.weight.device)

    def _logits(self, windows: torch.Tensor) -> torch.Tensor:
        """windows (..., block_size) of ids, oldest first -> logits (..., vocab_size)."""
        x = self.wte(windows).flatten(-2)  # the concatenated embeddings
        return self.head(self.drop(torch.tanh(self.hidden(x))))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: IdRing | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        keep = self.config.block_size - 1
        if cache is None:
            history = torch.full((B, keep), self.blank, dtype=idx.dtype, device=idx.device)
        else:
            history = cache.history
        seq = torch.cat([history, idx], dim=1)  # (B, keep + T)
        # unfold: window t is seq[t : t + block_size], the block_size ids ending at
        # position t of idx, as a strided view (no copy until the embedding lookup).
        logits = self._logits(seq.unfold(1, keep + 1, 1))
        if cache is not None:
            cache.history = seq[:, seq.shape[1] - keep :]
            cache.length += T
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    def step(self, token: int, cache: IdRing) -> torch.Tensor:
        """Logits (vocab_size,) for the character after `token`, a batch of one."""
        window = torch.cat([cache.history[0], cache.history.new_tensor([token])])
        cache.history = window[None, 1:]
        cache.length += 1
        return self._logits(window)
