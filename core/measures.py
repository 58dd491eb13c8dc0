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


@dataclass
class SpikeWatch:
    """A value far above its recent level: `value > ratio × its moving average`.

    The average is exponential over about `1/alpha` values and starts after `warmup`
    of them (a young run's loss only falls). One alert per excursion: it is armed again
    once a value is back under the line. A spike counts into the average only up to the
    line, so one huge value does not hide the next."""

    ratio: float  # 0: never
    warmup: int = 50
    alpha: float = 0.02
    average: float | None = None
    seen: int = 0
    armed: bool = True

    def check(self, value: float) -> float | None:
        """The average `value` rose above (an alert), else None."""
        if not self.ratio or not math.isfinite(value):
            return None
        before = self.average
        self.seen += 1
        line = self.ratio * before if before is not None else math.inf
        kept = min(value, line)
        self.average = kept if before is None else (1 - self.alpha) * before + self.alpha * kept
        if before is None or self.seen <= self.warmup or value <= line:
            self.armed = self.armed or (before is not None and value <= line)
            return None
        if not self.armed:
            return None
        self.armed = False
        return before
