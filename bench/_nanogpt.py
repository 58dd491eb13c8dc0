"""A nanoGPT-style GPT-2, written here for the benchmarks to race against.

Not a copy of nanoGPT: the same recipe, written from its description. GPT-2's model
(learned absolute positions, GELU MLP, biases, pre-LayerNorm blocks, the LM head tied
to the token embedding, N(0, 0.02) initialisation with the residual projections scaled
by 1/sqrt(2 * n_layer)), AdamW with weight decay on the 2-d parameters only, linear
warmup then cosine decay, and random training windows.

Imports torch and numpy only (no charlm-tui code), so bench/_nanogpt_startup.py can
time a nanoGPT-style process start fairly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.proj_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        heads = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        q, k, v = heads.unbind(0)  # each (B, n_head, T, head_size)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        return self.proj_drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # tied, as in GPT-2
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):  # the two writes into the residual stream
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits of every position, mean cross-entropy or None): what
        core.decoding.evaluate expects."""
        T = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(T, device=idx.device)))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())


def adamw(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    fused: bool = False,
) -> torch.optim.AdamW:
    """Decay the matrices and embeddings (2-d), not the biases and LayerNorm gains."""
    params = [p for p in model.parameters() if p.requires_grad]  # the tied weight once
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused or None)


def lr_at(it: int, lr: float, min_lr: float, warmup: int, decay_iters: int) -> float:
    """Linear warmup to lr over `warmup` steps, then cosine to min_lr at decay_iters."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it >= decay_iters:
        return min_lr
    ratio = (it - warmup) / max(1, decay_iters - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def lr_at_fraction(it: int, frac: float, lr: float, min_lr: float, warmup: int) -> float:
    """lr_at keyed to the fraction of a time budget spent instead of an iteration count
    (as charlm-tui's --time-budget): linear warmup over `warmup` steps, then cosine to
    min_lr when the budget is spent."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac))) * (lr - min_lr)


def encode(text: str) -> tuple[str, np.ndarray]:
    """The sorted characters of the text, and the text as their indices."""
    chars = "".join(sorted(set(text)))
    table = np.zeros(max(map(ord, chars)) + 1, dtype=np.uint8 if len(chars) < 256 else np.int32)
    table[[ord(c) for c in chars]] = np.arange(len(chars))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return chars, table[codes]


def batch(
    data: np.ndarray,
    block_size: int,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of block_size + 1 characters: inputs and next-character targets."""
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator).numpy()
    w = torch.from_numpy(data[starts[:, None] + np.arange(block_size + 1)].astype(np.int64))
    if device.type == "cuda":
        w = w.pin_memory().to(device, non_blocking=True)
    return w[:, :-1], w[:, 1:]


def split(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """First 1 - val_fraction of the characters train, the rest validate (charlm-tui's cut)."""
    cut = len(ids) - round(len(ids) * val_fraction)
    return ids[:cut], ids[cut:]
