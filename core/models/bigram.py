"""The bigram model: each character's logits for the next one, read off a V×V table."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.models.protocol import ContextKind


class Bigram(nn.Module):
    context_kind: ContextKind = "sliding"  # the last character, wherever it sits

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        # Zero init: uniform predictions, the maximum-entropy start.
        self.table = nn.Embedding(cfg.vocab_size, cfg.vocab_size)
        nn.init.zeros_(self.table.weight)

    @property
    def context_size(self) -> int:
        return 1  # only the last character matters

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.table(idx)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss
