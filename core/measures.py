"""What evaluation and a model summary measure, as plain records without torch: the
run's events carry them (core/runs/events.py), decoding/ and models/ make them, and a
command that only reads runs never imports torch to read them back."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Metrics:
    """Next-character prediction over some positions of a split."""

    loss: float  # mean cross-entropy, nats per character
    top1: float  # fraction of positions where the target is the most likely character
    top5: float
    n_tokens: int

    @property
    def bpc(self) -> float:
        return self.loss / math.log(2)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "bpc": self.bpc}


@dataclass(frozen=True)
class LayerSummary:
    """One row of a model's summary: a top-level layer, its type and parameter count."""

    name: str
    kind: str
    params: int
