"""Weight-only int8 quantization for generation.

Decoding one character multiplies a single row by every weight matrix, so its speed is
set by how many weight bytes the CPU streams per character, not by arithmetic. Storing
each `nn.Linear` weight as int8 with one scale per output row reads a quarter of
the bytes; activations stay in floating point (LLM.int8 / gpt-fast's "int8 weight-only"
scheme). Symmetric per-row scales keep the rounding error of each output below half a
step of that row's largest weight.

Only generation uses this: training and `charlm-tui eval` run in fp32.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import torch
import torch.nn as nn

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.gpt import GPT, MLP


def _int8_mm(x: torch.Tensor, w_int8: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    # PyTorch's packed kernel takes bf16 activations (and bf16 scales) on CPU.
    return torch.ops.aten._weight_int8pack_mm(x.to(scales.dtype), w_int8, scales)


@functools.cache
def int8_available(device: str = "cpu") -> bool:
    """Whether this PyTorch build has the int8 weight-only kernel for `device`."""
    try:
        x = torch.ones(1, 8, device=device)
        w = torch.ones(8, 8, dtype=torch.int8, device=device)
        _int8_mm(x, w, torch.ones(8, dtype=torch.bfloat16, device=device))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return True


class Int8Linear(nn.Module):
    """y = x Wᵀ + b with W stored as int8 rows times a per-row scale; y in `out_dtype`."""

    def __init__(self, linear: nn.Linear, out_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        # The kernel wants bf16 scales: round them first, then quantize against the
        # rounded scale, so the only error left is the int8 rounding itself.
        scales = (w.abs().amax(dim=1).clamp(min=1e-12) / 127.0).to(torch.bfloat16)
        q = torch.round(w / scales.float()[:, None]).clamp(-127, 127)
        self.register_buffer("weight_int8", q.to(torch.int8))
        self.register_buffer("scales", scales)
        bias = linear.bias.detach().to(out_dtype).clone() if linear.bias is not None else None
        self.register_buffer("bias", bias)
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.out_dtype = out_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _int8_mm(x.reshape(-1, self.in_features), self.weight_int8, self.scales)
        y = y.view(*x.shape[:-1], self.out_features)
        # One op either way: adding a bias of out_dtype promotes the kernel's bf16 result.
        return y.to(self.out_dtype) if self.bias is None else torch.add(y, self.bias)

    def row_product(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """forward for 2-d input with the buffers bound once (GPT.step's StepPlan)."""
        w, scales, bias, out_dtype = self.weight_int8, self.scales, self.bias, self.out_dtype
        if bias is None:
            return lambda x: _int8_mm(x, w, scales).to(out_dtype)
        return lambda x: torch.add(_int8_mm(x, w, scales), bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode with every nn.Linear replaced by an Int8Linear.

    Embeddings and LayerNorms stay in fp32: they are looked up, not multiplied.
    """
    quantized = copy.deepcopy(model).eval()
    for parent in list(quantized.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                # An MLP's hidden activations only travel from one product to the next:
                # kept in the kernel's bf16, they skip two conversions, and the
                # activation between runs ~4x faster on 1,536 bf16 values than on fp32.
                hidden = isinstance(parent, MLP) and name == "c_fc"
                setattr(
                    parent, name, Int8Linear(child, torch.bfloat16 if hidden else torch.float32)
                )
    return quantized.requires_grad_(False)


PRECISIONS = ("auto", "fp32", "int8")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise CharLMError(f"--precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")


def resolve_precision(model: nn.Module, precision: str, device: str = "cpu") -> str:
    """ "int8" or "fp32": what `precision` means for this model on this device.

    auto: int8 for a GPT on CPU when PyTorch has the kernel (it moves val loss by about
    1e-4 nats, BENCHMARKS.md), fp32 elsewhere. fp32 decodes with the trained weights
    exactly. int8 for a model it cannot apply to is a CharLMError.
    """
    check_precision(precision)
    if precision == "fp32":
        return "fp32"
    # Only GPT.step calls its Linear layers through their forward, which an Int8Linear
    # replaces: the bigram model is a table, and the recurrent models' fused kernels
    # read their fp32 weights directly. The MLP's step reads one matrix, small enough to
    # stay in cache, where streaming fewer bytes saves nothing.
    quantizable = isinstance(model, GPT)
    if precision == "auto":
        fast = quantizable and device == "cpu" and int8_available(device)
        return "int8" if fast else "fp32"
    if not quantizable:
        name = getattr(getattr(model, "config", None), "model", type(model).__name__)
        why = "a bigram model is a lookup table" if name == "bigram" else f"{name} decodes in fp32"
        raise CharLMError(f"--precision int8 applies to gpt models: {why}")
    if not int8_available(device):
        raise CharLMError(
            f"this PyTorch build has no int8 kernel for {device}: use --precision fp32"
        )
    return "int8"


def decoder_for(model: nn.Module, precision: str, device: str = "cpu") -> nn.Module | None:
    """The model that decodes one position at a time (see resolve_precision), or None
    to use `model` itself."""
    if resolve_precision(model, precision, device) == "fp32":
        return None
    return quantize_int8(model)
