"""A GPT-style decoder (Radford et al. 2019) for characters.

Pre-LayerNorm residual blocks of causal multi-head self-attention and a 4x MLP, token
embeddings, a final LayerNorm and a linear LM head. Two choices beyond GPT-2's:
- position: learned absolute embeddings (GPT-2), or rotary embeddings (RoFormer, Su et
  al. 2021) that rotate queries and keys so attention sees relative offsets;
- activation: GELU (GPT-2), or ReLU squared (Primer, So et al. 2021).
Both alternatives learn faster per step on tinyshakespeare (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, get_args

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from charlm_tui.core.config import Activation, ModelConfig, Position
from charlm_tui.core.models.protocol import ContextKind


class KVCache:
    """Keys and values of the positions seen so far, per layer, for incremental decoding.

    With a cache, each new character costs one position's forward pass instead of the
    whole context's. A cached key depends on the characters before it in the window
    (through the layers below, and learned positions on where it sits), so the cache
    cannot slide exactly, even with rotary positions: when the context is full, the
    caller drops the oldest part and re-fills the cache from the rest (core.decoding.sampling).
    """

    def __init__(self, cfg: ModelConfig, batch: int, device: torch.device, dtype: torch.dtype):
        shape = (batch, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)]
        self.length = 0  # positions filled
        self.plan: StepPlan | None = None  # the stepping model's tensors (GPT.step)

    def reset(self) -> None:
        self.length = 0


Row = Callable[[torch.Tensor], torch.Tensor]


def row_product(linear: nn.Module) -> Row:
    """A Linear layer's product for GPT.step's single rows with its tensors bound once:
    an int8 layer (core.models.quant) gives its own `row_product`."""
    own = getattr(linear, "row_product", None)
    if own is not None:
        return own()
    if isinstance(linear, nn.Linear):
        weight, bias = linear.weight, linear.bias
        return lambda x: F.linear(x, weight, bias)
    return linear.forward


class LayerPlan(NamedTuple):
    ln_1: tuple[torch.Tensor, torch.Tensor | None, float]  # weight, bias, eps
    c_attn: Row
    rotary: Rotary | None
    c_proj: Row
    ln_2: tuple[torch.Tensor, torch.Tensor | None, float]
    c_fc: Row
    act: Row
    mlp_proj: Row


class StepPlan(NamedTuple):
    """What GPT.step reads, looked up once per generation and kept in its KVCache.

    Reaching the tensors through the modules (block.attn.c_attn.weight: nn.Module's
    __getattr__, ~70 lookups a character) and through each Linear's forward cost a fifth
    of a character at the seed shape: int8 1,254 -> 1,563 chars/s with the plan, the
    same text (in turns, BENCHMARKS.md, 2026-11-26). The tensors are the model's own, so
    in-place updates show; a module replaced or moved after the plan is made would not,
    and a cache (so its plan) lives for one generation."""

    model: nn.Module
    wte: torch.Tensor
    wpe: torch.Tensor | None
    layers: list[LayerPlan]
    ln_f: tuple[torch.Tensor, torch.Tensor | None, float]
    lm_head: Row

    @classmethod
    def of(cls, model: GPT) -> StepPlan:
        def norm(ln: nn.LayerNorm) -> tuple[torch.Tensor, torch.Tensor | None, float]:
            return ln.weight, ln.bias, ln.eps

        layers = [
            LayerPlan(
                norm(b.ln_1),
                row_product(b.attn.c_attn),
                b.attn.rotary,
                row_product(b.attn.c_proj),
                norm(b.ln_2),
                row_product(b.mlp.c_fc),
                b.mlp.act.forward,
                row_product(b.mlp.c_proj),
            )
            for b in model.blocks
        ]
        wpe = model.wpe.weight if model.wpe is not None else None
        return cls(
            model, model.wte.weight, wpe, layers, norm(model.ln_f), row_product(model.lm_head)
        )


class Rotary(nn.Module):
    """Rotate each (even, odd) pair of a head's features by an angle growing with position.

    q·k then depends on the two positions only through their difference. A pair is a
    complex number and the rotation one complex product: a single kernel per tensor.
    """

    def __init__(self, head_size: int, block_size: int, base: float = 10000.0) -> None:
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
        angles = torch.outer(torch.arange(block_size, dtype=torch.float32), inv_freq)
        # (block_size, 1, head_size / 2), from the shape alone: not saved in checkpoints.
        self.register_buffer("turns", torch.polar(torch.ones_like(angles), angles)[:, None], False)
        self.register_buffer("cos", self.turns.real.contiguous(), False)
        self.register_buffer("sin", self.turns.imag.contiguous(), False)

    def forward(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """x: (B, T, n_head, head_size) at positions start .. start + T - 1."""
        if torch.compiler.is_compiling():
            # Inductor has no complex dtype: it runs the complex product as unfused ATen
            # calls around copies (seen in its output code). In real pairs, the whole
            # rotation fuses into the kernels around it.
            return self.rotate_real(x, start)
        B, T, H, D = x.shape
        pairs = torch.view_as_complex(x.float().reshape(B, T, H, D // 2, 2))
        rotated = torch.view_as_real(pairs * self.turns[start : start + T])
        return rotated.flatten(-2).to(x.dtype)

    def rotate_real(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """forward's rotation in real arithmetic: (a + ib)(c + is) = (ac - bs) + i(as + bc)."""
        T, D = x.shape[1], x.shape[-1]
        a, b = x.float().unflatten(-1, (D // 2, 2)).unbind(-1)
        c, s = self.cos[start : start + T], self.sin[start : start + T]
        return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2).to(x.dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        head_size = cfg.n_embd // cfg.n_head
        self.rotary = Rotary(head_size, cfg.block_size) if cfg.position == "rope" else None
        self.dropout = cfg.dropout
        # One projection for the queries, keys and values of all heads: one big matmul.
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        # Set by GPT.attention_capture() only: each forward then appends its attention
        # weights here. SDPA never materialises them, so they are computed on the side.
        self.capture: list[torch.Tensor] | None = None

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, last: bool = False
    ) -> torch.Tensor:
        """last: the output for the last position only (every position's keys and
        values still go to the cache)."""
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, -1) for t in self.c_attn(x).split(C, dim=2))
        past = cache.length if cache is not None else 0
        if self.rotary is not None:
            q, k = self.rotary(q, past), self.rotary(k, past)
        # (B, T, n_head, head_size) -> (B, n_head, T, head_size): heads become a batch dim.
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if cache is not None:
            cache.k[layer][:, :, past : past + T] = k
            cache.v[layer][:, :, past : past + T] = v
            k, v = cache.k[layer][:, :, : past + T], cache.v[layer][:, :, : past + T]
        if last:  # one query, at the end: it sees every key
            q, T = q[:, :, -1:], 1
        if past and T > 1:  # new queries after cached keys: each sees the past and itself
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:  # training, a first fill (causal), or one new position (sees everything)
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=T > 1, dropout_p=self.dropout if self.training else 0.0
            )
        if self.capture is not None:
            self.capture.append(attention_weights(q, k, past))
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


def attention_weights(q: torch.Tensor, k: torch.Tensor, past: int = 0) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + causal mask): what SDPA weighs the values with.

    q: (B, n_head, T, d) at positions past .. past + T - 1; k: (B, n_head, past + T, d).
    Returns (B, n_head, T, past + T) in fp32, each row summing to 1 over the keys at or
    before its query (the rest exactly 0). Dropout is left out: inspection runs in eval.
    """
    T, S = q.shape[-2], k.shape[-2]
    scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])
    seen = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)
    return scores.masked_fill(~seen, float("-inf")).softmax(dim=-1)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.act = nn.GELU() if cfg.activation == "gelu" else ReLUSquared()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class ReLUSquared(nn.Module):
    """relu(x)^2 (So et al., 2021, "Primer"), with its gradient written out when training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and torch.is_grad_enabled():
            return _ReLUSquaredFn.apply(x)
        return F.relu(x).square()


class _ReLUSquaredFn(torch.autograd.Function):
    """d relu(x)^2 / dx = 2 relu(x): one saved tensor and two passes backward.

    Autograd's own backward of relu(x).square() keeps x and relu(x) and runs square's
    general pow backward, then relu's threshold: at the cpu preset's MLP (12 x 128 x 512)
    forward and backward took 4.5 ms a layer against 1.2 ms this way (2026-11-26,
    AVX-512 VM), a sixth of the whole training step.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        r = F.relu(x)
        ctx.save_for_backward(r)
        return r * r

    @staticmethod
    @once_differentiable  # r carries no graph: a second derivative must fail, not be wrong
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (r,) = ctx.saved_tensors
        return torch.mul(r, grad).mul_(2.0)


class Block(nn.Module):
    """Communication (attention) then computation (MLP), each on a normalised residual."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0, last: bool = False
    ) -> torch.Tensor:
        """last: the last position's output only (GPT.forward's final block with a cache)."""
        a = self.attn(self.ln_1(x), cache, layer, last)
        x = (x[:, -1:] if last else x) + a
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    # Keys depend on where characters sit in the window: a sliding window re-fills.
    context_kind: ContextKind = "window"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.activation not in get_args(Activation) or cfg.position not in get_args(Position):
            raise ValueError(f"unknown activation {cfg.activation!r} or position {cfg.position!r}")
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        # With rotary positions, attention handles position: no table to learn.
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.position == "learned" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.apply(self._init_weights)
        # GPT-2: each block adds two projections to the residual stream, so scale their
        # init by 1/sqrt(2 * n_layer) to keep the stream's variance flat with depth.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def context_size(self) -> int:
        return self.config.block_size

    def new_cache(self, batch: int = 1) -> KVCache:
        p = self.wte.weight
        return KVCache(self.config, batch, p.device, p.dtype)

    @contextmanager
    def attention_capture(self) -> Iterator[Callable[[], list[torch.Tensor]]]:
        """While active, forward() also computes every layer's attention weights; the
        yielded function returns the last forward's, one (B, n_head, T, T) tensor per
        layer (core.decoding.inspect). Outside it forward runs on SDPA alone; step() never
        captures."""
        layers = [block.attn for block in self.blocks]

        def take() -> list[torch.Tensor]:
            weights = [attn.capture[-1] for attn in layers if attn.capture]
            for attn in layers:
                attn.capture = []
            return weights

        try:
            for attn in layers:
                attn.capture = []
            yield take
        finally:
            for attn in layers:
                attn.capture = None

    def step(self, token: int, cache: KVCache) -> torch.Tensor:
        """Logits (vocab_size,) for one new character after the cached ones.

        forward()'s maths for a single position of a batch of one, as straight-line
        tensor code: generation's hot loop. One position is a few hundred microseconds
        of matrix products spread over ~60 small ops, and going through the modules
        (dispatch, views, the embedding lookup) costs a third again: the tensors come
        from a StepPlan made once per cache. Linear layers give their row products
        (row_product), so the int8 copy from core.models.quant runs here too.
        Call it under torch.inference_mode() (generation does) with the model in eval().
        """
        cfg, pos = self.config, cache.length
        if pos >= cfg.block_size:
            raise ValueError(f"sequence of {pos + 1} exceeds block_size {cfg.block_size}")
        plan = cache.plan
        if plan is None or plan.model is not self:
            plan = cache.plan = StepPlan.of(self)
        x = plan.wte[token]
        if plan.wpe is not None:
            x = x + plan.wpe[pos]
        x, C, H = x[None], cfg.n_embd, cfg.n_head  # x: (1, C)
        for i, (ln_1, c_attn, rotary, c_proj, ln_2, c_fc, act, mlp_proj) in enumerate(plan.layers):
            h = F.layer_norm(x, (C,), *ln_1)
            # (1, n_head, 1, head_size), 4-d: SDPA's fused CPU kernel wants 4-d inputs
            q, k, v = c_attn(h).view(3, 1, H, 1, C // H)
            if rotary is not None:
                q = rotary(q.view(1, 1, H, -1), pos).view(1, H, 1, -1)
                k = rotary(k.view(1, 1, H, -1), pos).view(1, H, 1, -1)
            keys, values = cache.k[i], cache.v[i]
            keys[:, :, pos : pos + 1] = k
            values[:, :, pos : pos + 1] = v
            # sees every cached key
            y = F.scaled_dot_product_attention(q, keys[:, :, : pos + 1], values[:, :, : pos + 1])
            x = x + c_proj(y.view(1, C))
            h = F.layer_norm(x, (C,), *ln_2)
            x = x + mlp_proj(act(c_fc(h)))
        cache.length += 1
        x = F.layer_norm(x, (C,), *plan.ln_f)
        return plan.lm_head(x)[0]

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position; with a cache, for the last position only."""
        T = idx.shape[1]
        past = cache.length if cache is not None else 0
        if past + T > self.config.block_size:
            raise ValueError(f"sequence of {past + T} exceeds block_size {self.config.block_size}")
        # Positions of this sequence (after what the cache holds), not of block_size; a
        # slice of the table is a view, cheaper than a lookup when decoding one position.
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe.weight[past : past + T]
        x = self.drop(x)
        last = len(self.blocks) - 1 if cache is not None else -1
        for i, block in enumerate(self.blocks):
            # A prompt or a window refill: generation reads the last position, so the
            # last block computes only its row after the keys and values: a 192-character
            # refill (every 64 characters) at the seed shape 10.9 -> 8.7 ms.
            x = block(x, cache, i, last=i == last)
        if cache is not None:
            cache.length += T
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss
