"""Models, built from a ModelConfig: a bigram table, Bengio's MLP, char-rnn's recurrent
nets (rnn, gru, lstm) and a GPT-style decoder. core/models/protocol.py says what
generation asks of them."""

from __future__ import annotations

from typing import get_args

import torch.nn as nn

from charlm_tui.core.config import ModelConfig, ModelName
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.measures import LayerSummary
from charlm_tui.core.models.bigram import Bigram
from charlm_tui.core.models.gpt import GPT
from charlm_tui.core.models.mlp import BengioMLP
from charlm_tui.core.models.recurrent import CELLS, Recurrent

__all__ = [
    "GPT",
    "BengioMLP",
    "Bigram",
    "LayerSummary",
    "Recurrent",
    "build_model",
    "count_params",
    "summarize",
]


def build_model(cfg: ModelConfig) -> Bigram | BengioMLP | Recurrent | GPT:
    if cfg.vocab_size <= 0:
        raise CharLMError("the model needs a vocabulary of at least one character")
    if cfg.model == "bigram":
        return Bigram(cfg)
    if cfg.model == "mlp":
        return BengioMLP(cfg)
    if cfg.model in CELLS:
        return Recurrent(cfg)
    if cfg.model == "gpt":
        return GPT(cfg)
    raise CharLMError(
        f"unknown model {cfg.model!r}: choose one of {', '.join(get_args(ModelName))}"
    )


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def summarize(model: nn.Module) -> list[LayerSummary]:
    """One row per top-level layer, with transformer blocks listed one by one."""
    rows = []
    for name, child in model.named_children():
        parts = child.named_children() if isinstance(child, nn.ModuleList) else [("", child)]
        for sub, module in parts:
            label = f"{name}.{sub}" if sub else name
            rows.append(LayerSummary(label, type(module).__name__, count_params(module)))
    return rows
