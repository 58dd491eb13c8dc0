"""Typed events the training engine emits, and the sink protocol that consumes them.

The loop knows nothing about consoles, files or widgets: it hands each event to
every sink. Each event has a `record()` with the JSON form the run directory stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from core.evaluate import Metrics
from core.models import LayerSummary


@dataclass(frozen=True)
class StartEvent:
    iter: int
    run_dir: str | None
    config: dict[str, Any]
    layers: list[LayerSummary]
    n_params: int
    n_trainable: int
    vocab_size: int
    train_chars: int
    val_chars: int
    device: str
    threads: int
    world_size: int
    resumed: bool

    def record(self) -> dict[str, Any]:
        return {
            "event": "start",
            "iter": self.iter,
            "n_params": self.n_params,
            "device": self.device,
            "threads": self.threads,
            "world_size": self.world_size,
            "resumed": self.resumed,
            "n_trainable": self.n_trainable,
            "vocab_size": self.vocab_size,
            "train_chars": self.train_chars,
            "val_chars": self.val_chars,
            "layers": [[row.name, row.kind, row.params] for row in self.layers],
        }


@dataclass(frozen=True)
class StepEvent:
    iter: int  # optimizer steps completed
    loss: float
    lr: float
    grad_norm: float
    dt_s: float  # seconds of this step
    tokens_per_s: float  # over the recent steps
    elapsed_s: float
    progress: float  # 0..1 of max_iters or the time budget
    eta_s: float

    def record(self) -> dict[str, Any]:
        return {"event": "step", **asdict(self)}


@dataclass(frozen=True)
class EvalEvent:
    iter: int
    train: Metrics
    val: Metrics
    lr: float
    t_train_s: float  # training seconds since the previous eval
    t_eval_s: float
    tokens_per_s: float
    elapsed_s: float
    progress: float
    eta_s: float
    best_val_loss: float
    is_best: bool

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"event": "eval", "iter": self.iter}
        for split, m in (("train", self.train), ("val", self.val)):
            rec.update(
                {
                    f"{split}_loss": m.loss,
                    f"{split}_bpc": m.bpc,
                    f"{split}_top1": m.top1,
                    f"{split}_top5": m.top5,
                }
            )
        rec.update(
            lr=self.lr,
            t_train_s=self.t_train_s,
            t_eval_s=self.t_eval_s,
            tokens_per_s=self.tokens_per_s,
            elapsed_s=self.elapsed_s,
            progress=self.progress,
            eta_s=self.eta_s,
            best_val_loss=self.best_val_loss,
        )
        return rec


@dataclass(frozen=True)
class SampleEvent:
    iter: int
    prompt: str
    text: str
    temperature: float
    elapsed_s: float

    def record(self) -> dict[str, Any]:
        return {"event": "sample", **asdict(self)}


@dataclass(frozen=True)
class CheckpointEvent:
    iter: int
    path: str
    kind: str  # "last" or "best"
    val_loss: float | None

    def record(self) -> dict[str, Any]:
        return {"event": "checkpoint", **asdict(self)}


@dataclass(frozen=True)
class DoneEvent:
    iter: int
    reason: str  # "finished", "interrupted", "stopped", "diverged"
    elapsed_s: float
    best_val_loss: float | None
    message: str = ""
    last_checkpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        rec = asdict(self)
        rec.pop("extra")
        return {"event": "done", **rec}


@dataclass(frozen=True)
class NoteEvent:
    """Something the user should know that is not an error (a fallback, say)."""

    iter: int
    text: str

    def record(self) -> dict[str, Any]:
        return {"event": "note", **asdict(self)}


Event = StartEvent | StepEvent | EvalEvent | SampleEvent | CheckpointEvent | DoneEvent | NoteEvent


class Sink(Protocol):
    def handle(self, event: Event) -> None: ...

    def close(self) -> None: ...
