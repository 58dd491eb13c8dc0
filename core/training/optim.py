"""Optimizers: AdamW, or Muon for the blocks' weight matrices with AdamW for the rest.

Muon (Jordan et al., 2024, "Muon: an optimizer for hidden layers") replaces each
weight matrix's update by its momentum made (nearly) orthogonal: every direction the
gradient spans moves by the same amount, so the rare directions are not drowned out by
the dominant ones. Embeddings, the output head, biases and LayerNorm gains are not
hidden-layer matrices and stay on AdamW.

On this project's 2-core CPU it is the biggest per-step win we measured: 800 steps of
the `cpu` preset reach 1.63 nats on the full val split against 1.78 with AdamW
(BENCHMARKS.md, time to quality).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from charlm_tui.core.config import TrainConfig

# Quintic Newton-Schulz coefficients from the Muon write-up: tuned for the steepest
# slope at zero: five iterations leave every singular value near 1 (about 0.5 to 1.5),
# which trains as well as the exact U V^T at a fraction of the cost.
NS_COEFFS = (3.4445, -4.7750, 2.0315)


def ns_dtype(device: torch.device) -> torch.dtype:
    """The Newton-Schulz iteration's precision: bf16 on a GPU (its tensor cores; the
    iteration tolerates it, as in the Muon write-up), fp32 on a CPU, where bf16 products
    are 100x slower without bf16 matrix units (0.9 against 115 GFLOP/s on an AVX2 VM) and
    no faster at these small shapes with them (AMX measured 2026-11-26, BENCHMARKS.md)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def orthogonalize(
    g: torch.Tensor, steps: int = 5, eps: float = 1e-7, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Approximately U V^T for each matrix U S V^T in a (..., rows, cols) stack.

    Each Newton-Schulz step maps X to p(X X^T) X, with p(A) = a + b A + c A^2, in `dtype`
    (see ns_dtype).
    """
    a, b, c = NS_COEFFS
    x = g.to(dtype)
    tall = x.size(-2) > x.size(-1)
    if tall:  # work with the smaller Gram matrix, n x n with n = min(rows, cols)
        x = x.mT
    # Frobenius norm >= spectral norm: every singular value starts in [0, 1].
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp_min(eps)
    n, m = x.shape[-2:]
    gram = x @ x.mT
    if m <= 2 * n:  # near-square: iterate on X itself
        for i in range(steps):
            if i:
                gram = x @ x.mT
            poly = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)  # b A + c A^2
            x = torch.baddbmm(x, poly, x, beta=a)  # (a + b A + c A^2) X
    else:
        # Wide: X_k = M_k X_0, and X_k X_k^T = M_k A_0 M_k^T, so every step stays in
        # n x n products and X is touched twice, not 2 * steps times (25-40% faster
        # for the 4x MLP matrices; the same result to 1e-6).
        mk = None
        for _ in range(steps):
            ak = gram if mk is None else mk @ gram @ mk.mT
            poly = torch.baddbmm(ak, ak, ak, beta=b, alpha=c)
            poly.diagonal(dim1=-2, dim2=-1).add_(a)
            mk = poly if mk is None else poly @ mk
        x = mk @ x
    return x.mT if tall else x


class Muon(torch.optim.Optimizer):
    """SGD with Nesterov momentum whose update is orthogonalized, for 2-d weights.

    The update is scaled by 0.2 * sqrt(max(rows, cols)) so its RMS matches AdamW's
    (Liu et al., 2025, "Muon is scalable for LLM training"): the same learning rate,
    schedule and weight decay serve both halves of the model.
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.95,
        ns_steps: int = 5,
        compiled: bool = False,
    ) -> None:
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, ns_steps=ns_steps)
        super().__init__(params, defaults)
        # With --compile, the Newton-Schulz iteration of each shape is one compiled graph:
        # on a GPU its ~30 small kernels a shape (launch-bound at these sizes) become a
        # few fused ones. Built on the first step; a failure to compile (no C compiler)
        # falls back to eager, as the model's compile does (core/training/step.py).
        self.orthogonalize: Any = (
            torch.compile(orthogonalize, dynamic=False) if compiled else orthogonalize
        )
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(f"Muon updates matrices only, got shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            lr, wd, mu = group["lr"], group["weight_decay"], group["momentum"]
            # Matrices of one shape are orthogonalized together, as one batched product.
            by_shape: dict[torch.Size, list[torch.Tensor]] = defaultdict(list)
            for p in group["params"]:
                if p.grad is not None:
                    by_shape[p.shape].append(p)
            for shape, params in by_shape.items():
                for p in params:
                    if "momentum_buffer" not in self.state[p]:
                        self.state[p]["momentum_buffer"] = torch.zeros_like(p)
                bufs = [self.state[p]["momentum_buffer"] for p in params]
                grads = [p.grad for p in params]
                torch._foreach_mul_(bufs, mu)
                torch._foreach_add_(bufs, grads)
                nesterov = torch._foreach_add(grads, bufs, alpha=mu)
                ortho = self._orthogonalized(
                    torch.stack(nesterov), group["ns_steps"], ns_dtype(params[0].device)
                )
                if wd:
                    torch._foreach_mul_(params, 1.0 - lr * wd)
                scale = 0.2 * max(shape) ** 0.5
                torch._foreach_add_(
                    params, list(ortho.to(params[0].dtype).unbind()), alpha=-lr * scale
                )

    def _orthogonalized(self, g: torch.Tensor, steps: int, dtype: torch.dtype) -> torch.Tensor:
        try:
            return self.orthogonalize(g, steps, dtype=dtype)
        except Exception:  # torch.compile without a working compiler, say
            if self.orthogonalize is orthogonalize:
                raise
            self.orthogonalize = orthogonalize
            return orthogonalize(g, steps, dtype=dtype)


class Optimizers:
    """Several optimizers stepped, zeroed, saved and restored as one."""

    def __init__(self, **parts: torch.optim.Optimizer) -> None:
        self.parts = parts

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.parts.values() for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.parts.values():
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.parts.values():
            opt.step()

    def state_dict(self) -> dict[str, Any]:
        return {name: opt.state_dict() for name, opt in self.parts.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, opt in self.parts.items():
            opt.load_state_dict(state[name])


def hidden_matrices(model: nn.Module) -> list[nn.Parameter]:
    """The transformer blocks' 2-d weights: what Muon is for."""
    return [
        p
        for name, p in model.named_parameters()
        if p.requires_grad and p.dim() == 2 and name.startswith("blocks.")
    ]


def adamw(params: list[nn.Parameter], cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    # Decay matrices (embeddings, linear weights) only; biases and LayerNorm gains stay free.
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused kernel updates every tensor in one pass: 4-9% faster steps on CPU than
    # the default foreach path (bench/train_throughput.py --variants).
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused
    )


def learning_rate(cfg: TrainConfig, it: int, progress: float) -> float:
    """Linear warmup over warmup_iters, then cosine decay to min_lr as progress -> 1.

    progress is the fraction of the run's length spent: of max_iters after the warmup,
    or of the time budget. The whole curve is scaled by --lr-scale (1 unless steered).
    """
    if it < cfg.warmup_iters:
        return cfg.lr_scale * cfg.lr * (it + 1) / (cfg.warmup_iters + 1)
    if cfg.max_iters is not None:
        span = max(1, cfg.max_iters - cfg.warmup_iters)
        progress = (it - cfg.warmup_iters) / span
    progress = min(max(progress, 0.0), 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.lr_scale * (cfg.min_lr + cosine * (cfg.lr - cfg.min_lr))


def make_optimizer(
    model: nn.Module, cfg: TrainConfig, device: torch.device
) -> torch.optim.AdamW | Optimizers:
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = hidden_matrices(model) if cfg.optimizer == "muon" else []
    if not matrices:  # AdamW, or a model without blocks (bigram)
        return adamw(params, cfg, device)
    taken = {id(p) for p in matrices}
    rest = [p for p in params if id(p) not in taken]
    rest_opt = adamw(rest, cfg, device)
    for group in rest_opt.param_groups:
        # Embeddings and the head are not what Muon is for; at the lr Muon's matrices
        # like they learn slowly (50 s of the cpu preset: 1.70 -> 1.62 with 10x).
        group["lr_mult"] = cfg.adamw_lr_ratio
        group["lr"] = cfg.lr * cfg.adamw_lr_ratio
    return Optimizers(
        adamw=rest_opt,
        muon=Muon(matrices, lr=cfg.lr, weight_decay=cfg.weight_decay, compiled=cfg.compile),
    )
