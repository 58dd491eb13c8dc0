"""The state a training carries from step to step, and its form inside a checkpoint.

Batches and dropout masks are a function of (seed, rank, iteration) alone, so besides
the weights and the optimizer, this is all a resume needs to continue bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.values import is_int, is_number


@dataclass
class TrainState:
    iter: int = 0  # optimizer steps completed
    last_eval_iter: int = -1
    best_val_loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # the last eval, per split
    elapsed_s: float = 0.0  # training seconds of the sessions before this one
    sampled_iter: int = -1  # iteration of the last training sample (drawn with sample_rng)
    sample_rng: torch.Generator = field(default_factory=torch.Generator)

    def checkpoint(self, elapsed_s: float) -> dict[str, Any]:
        """The state's part of a checkpoint (core/training/trainer.py adds weights and configs)."""
        return {
            "iter": self.iter,
            "last_eval_iter": self.last_eval_iter,
            "metrics": self.metrics,
            "best_val_loss": self.best_val_loss,
            "elapsed_s": elapsed_s,
            "sampled_iter": self.sampled_iter,
            "rng": {"sample": self.sample_rng.get_state()},
        }

    @classmethod
    def new(cls, seed: int) -> TrainState:
        # The sampler has its own stream: samples never shift the training's randomness.
        return cls(sample_rng=torch.Generator().manual_seed(seed + 7))

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], where: str, seed: int) -> TrainState:
        """Read back what checkpoint() wrote, checking every value (a checkpoint may
        come from anyone): a bad one is a one-line CharLMError, before anything is built."""

        def whole(key: str, default: int | None = None, lo: int = 0) -> int:
            value = ckpt.get(key, default)
            if not is_int(value) or value < lo:
                raise CharLMError(f"{where}: {key} must be a whole number >= {lo}, not {value!r}")
            return value

        def number(key: str, default: float | None) -> float | None:
            value = ckpt.get(key, default)
            if value is None and default is None:
                return None
            if not is_number(value):
                raise CharLMError(f"{where}: {key} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise CharLMError(f"{where}: {key} must be finite and >= 0, not {value!r}")
            return float(value)

        metrics = ckpt.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise CharLMError(f"{where}: metrics must be a dict, not {type(metrics).__name__}")
        state = cls(
            iter=whole("iter"),
            last_eval_iter=whole("last_eval_iter", -1, lo=-1),
            best_val_loss=number("best_val_loss", None),
            metrics=metrics,
            elapsed_s=number("elapsed_s", 0.0) or 0.0,
            sampled_iter=whole("sampled_iter", -1, lo=-1),
            sample_rng=torch.Generator().manual_seed(seed + 7),
        )
        rng = ckpt.get("rng") or {}
        sample = rng.get("sample") if isinstance(rng, dict) else None
        if sample is not None:
            try:
                state.sample_rng.set_state(sample)
            except (RuntimeError, TypeError) as e:
                raise CharLMError(f"{where}: its sampler RNG state is not valid ({e})") from None
        return state
