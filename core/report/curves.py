"""Curves of a run for a chart: x and y lists of one quantity against one x axis, the
steering markers, and the smoothing every chart uses (the dashboard's, the compare
screen's and the report's images), so they all draw the same line.

A run's x axis is its iterations, the characters it has trained on (iterations x
batch x block x processes) or its training seconds (pauses excluded).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from charlm_tui.core.runs.events import EvalEvent, StepEvent
from charlm_tui.core.runs.view import RunView

XAxis = Literal["iter", "chars", "seconds"]
X_AXES: tuple[XAxis, ...] = ("iter", "chars", "seconds")
# What a chart can plot: eval losses (val, train) and what every logged step records.
CurveName = Literal["val", "train", "loss", "lr", "grad_norm", "tokens_per_s"]


def x_of(event: StepEvent | EvalEvent, axis: XAxis, per_iter: int | None) -> float | None:
    if axis == "iter":
        return float(event.iter)
    if axis == "chars":
        return float(event.iter * per_iter) if per_iter is not None else None
    return event.elapsed_s if math.isfinite(event.elapsed_s) else None


def x_of_iter(
    it: int, steps: Sequence[StepEvent], axis: XAxis, per_iter: int | None
) -> float | None:
    """Where iteration `it` sits on an x axis (a steering marker): on the seconds axis,
    the training time of the step record nearest it."""
    if axis == "iter":
        return float(it)
    if axis == "chars":
        return float(it * per_iter) if per_iter is not None else None
    near = min(steps, key=lambda s: abs(s.iter - it), default=None)
    return near.elapsed_s if near is not None and math.isfinite(near.elapsed_s) else None


def curve(
    steps: Sequence[StepEvent],
    evals: Sequence[EvalEvent],
    name: CurveName,
    axis: XAxis,
    per_iter: int | None,
) -> tuple[list[float], list[float]]:
    """(xs, ys) of one quantity against one x axis; non-finite values are left out."""
    xs, ys = [], []
    if name in ("val", "train"):
        for e in evals:
            x, y = x_of(e, axis, per_iter), (e.val if name == "val" else e.train).loss
            if x is not None and math.isfinite(y):
                xs.append(x)
                ys.append(y)
    else:
        for s in steps:
            x, y = x_of(s, axis, per_iter), getattr(s, name)
            if x is not None and math.isfinite(y):
                xs.append(x)
                ys.append(y)
    return xs, ys


def ema(ys: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing: weight 0 is the raw curve;
    early points are not dragged towards zero (the average is divided by 1 - weight^n)."""
    if weight <= 0:
        return list(ys)
    out, last = [], 0.0
    for n, y in enumerate(ys, 1):
        last = last * weight + (1 - weight) * y
        out.append(last / (1 - weight**n))
    return out


def run_curve(view: RunView, name: CurveName, axis: XAxis) -> tuple[list[float], list[float]]:
    """One quantity of a run against one x axis."""
    return curve(view.steps, view.evals, name, axis, view.chars_per_iter)


def steer_marks(view: RunView, axis: XAxis) -> list[float]:
    """Where on `axis` a run's hyperparameters were steered."""
    per_iter = view.chars_per_iter
    marks = (x_of_iter(e.iter, view.steps, axis, per_iter) for e in view.steers)
    return [x for x in marks if x is not None]
