"""One training step: forward, backward, clip, optimizer step, with a divergence check.

A plain function of the model, the optimizer and a batch: the loop in core/training/trainer.py
calls it once per iteration. `torch.compile` sits in a small wrapper that falls back to
the eager model (with a note) when compiling fails, e.g. without a C compiler.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from charlm_tui.core.errors import TrainingDiverged


@dataclass(frozen=True)
class StepResult:
    """The step's loss and gradient norm: floats, or (a step that did not sync with its
    device) 0-d tensors still on the GPU, read back by read() at the next sync."""

    loss: float | torch.Tensor
    grad_norm: float | torch.Tensor

    def read(self) -> tuple[float, float]:
        return float(self.loss), float(self.grad_norm)


class CompiledOrEager:
    """Calls the compiled model; if compiling fails, the eager one from then on."""

    def __init__(self, eager: nn.Module, compile: bool, note: Callable[[str], None]) -> None:
        self.eager = eager
        self.current: Any = torch.compile(eager) if compile else eager
        self.note = note

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Any:
        try:
            return self.current(x, y)
        except Exception as e:  # torch.compile without a working compiler, say
            if self.current is self.eager:
                raise
            self.current = self.eager
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            self.note(f"--compile failed, training eager instead: {first}")
            return self.eager(x, y)


def seed_dropout(seed: int, device: torch.device) -> None:
    """torch.manual_seed(seed) for the generators training on `device` draws from (the
    CPU's and this GPU's), the same masks without its cost: torch.manual_seed seeds every
    backend, and each one not initialised (XPU, MTIA; CUDA on a CPU machine) queues the
    call with a captured Python stack: 2 ms a step under cProfile on a CPU, 1.4 ms of
    wall time (a tiny model's step 8.9 -> 7.4 ms with the parameter list below, 2026-11-26).
    On a GPU machine CUDA is initialised but XPU and MTIA still pay, and there the host
    is what bounds a small model's step (an estimate: not measured on a GPU)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)  # the current device: the trainer's (set_device)
    elif device.type == "mps":
        torch.mps.manual_seed(seed)


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast where the GPU has it; fp32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(
    model: Callable[[torch.Tensor, torch.Tensor], Any],
    params: list[nn.Parameter],
    optimizer: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    grad_clip: float,
    autocast: contextlib.AbstractContextManager[Any],
    distributed: bool,
    it: int,
    sync: bool = True,
    after_backward: Callable[[], None] | None = None,
) -> StepResult:
    """Raises TrainingDiverged before the optimizer step if the loss or gradient is not
    finite, so the weights (and every checkpoint) keep their last finite values.

    Without `sync` (a GPU between two log steps) nothing is read back to the host: the
    device runs ahead and StepResult.read checks at the next sync instead.
    `after_backward` sees the gradients before clipping (core/internals/probe.py)."""
    with autocast:
        _, loss = model(x, y)
    if not sync:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if after_backward is not None:
            after_backward()
        norm_t = nn.utils.clip_grad_norm_(params, grad_clip or math.inf)
        optimizer.step()
        return StepResult(loss.detach(), norm_t)
    loss_value = loss.item()
    # Under DDP one rank alone may see a non-finite loss; raising there would leave the
    # others waiting in the gradient all-reduce forever. Its backward instead spreads
    # NaN to every rank's averaged gradients, and the norm check below then stops all
    # ranks at the same step, before any optimizer step.
    if not math.isfinite(loss_value) and not distributed:
        raise diverged(it, f"the loss is {loss_value}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if after_backward is not None:
        after_backward()
    norm = float(nn.utils.clip_grad_norm_(params, grad_clip or math.inf))
    if not math.isfinite(norm):
        what = (
            f"the gradient norm is {norm}"
            if math.isfinite(loss_value)
            else f"the loss is {loss_value}"
        )
        raise diverged(it, what)
    optimizer.step()
    return StepResult(loss_value, norm)


def diverged(it: int, what: str) -> TrainingDiverged:
    return TrainingDiverged(
        f"iteration {it + 1}: {what}; stopped before the optimizer step; the "
        "checkpoints keep the last finite weights (try a lower --lr)"
    )
