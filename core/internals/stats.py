"""What one recording of a model's internals holds: a row per layer, a row per weight
matrix (plain values, no torch: the records, the run view and the screens read them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How a layer's saturation is counted (core/internals/probe.py measures it):
#   tanh     |tanh(x)| > 0.97: the gradient through it is under 6% of its peak
#   sigmoid  the sigmoid gates (GRU: reset and update; LSTM: input, forget, output) below
#            0.03 or above 0.97, where they are as flat as a saturated tanh
#   relu     the MLP's GELU or ReLU² output at or below 0: units that pass no signal and,
#            for ReLU², no gradient (all of a unit's rows at 0 is a dead unit)
#   ""       the layer has no such nonlinearity (embeddings, norms, the head)
Rule = Literal["tanh", "sigmoid", "relu", ""]
RULES: tuple[str, ...] = ("tanh", "sigmoid", "relu", "")
GUIDE = -3.0  # the conventional update-to-data ratio, log10: updates ~1/1000 of the weights


@dataclass(frozen=True)
class LayerStats:
    """One layer (a row of the model summary: `wte`, `blocks.0`, `head`) at one step.

    `what` names the activation measured (`mlp.act`, `tanh`, `output`; "" when none was
    seen: a table read by index, as GPT's wpe), its `mean` and `std`; `saturated` is the
    fraction (0..1) under `rule`, None without one; `grad_norm` the norm of the gradients
    of all the layer's parameters before clipping (as the step record's grad_norm)."""

    name: str
    what: str
    mean: float | None
    std: float | None
    rule: str
    saturated: float | None
    grad_norm: float


@dataclass(frozen=True)
class WeightStats:
    """One weight matrix (a parameter of two or more dimensions; biases and norm gains
    are left out, as makemore does) at one step: its gradient's norm before clipping
    and the update-to-data ratio, log10(std(update) / std(weight)), the update being
    the weight after the optimizer step minus the weight before it."""

    name: str  # the parameter's name: `blocks.0.attn.c_attn.weight`
    layer: str  # the LayerStats row it belongs to
    grad_norm: float
    ratio: float  # -inf when the step did not change it (written as null: NaN on read)
