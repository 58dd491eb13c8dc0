"""What the training loop does between optimizer steps: evaluate on the fixed eval
batches, write a sample, save a checkpoint; and the records a run writes about itself
(config.json, the steerable values control.json starts with, what a checkpoint holds).

`BetweenSteps` is mixed into the Trainer (core/training/trainer.py), whose parts it reads
and whose state it updates: the loop reads top to bottom there, these steps here.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from typing import Any

import torch
import torch.nn as nn

from charlm_tui.core.config import STEERABLE, ModelConfig, TrainConfig, to_dict
from charlm_tui.core.decoding.evaluate import estimate
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.decoding.sampling import default_context, generate
from charlm_tui.core.measures import Metrics
from charlm_tui.core.models import count_params
from charlm_tui.core.models.checkpoint import FORMAT
from charlm_tui.core.runs.events import CheckpointEvent, EvalEvent, Event, NoteEvent, SampleEvent
from charlm_tui.core.runs.rundir import RunDirectory
from charlm_tui.core.text.dataset import Dataset
from charlm_tui.core.training import distributed
from charlm_tui.core.training.clock import Clock, EarlyTimes
from charlm_tui.core.training.optim import learning_rate
from charlm_tui.core.training.outputs import Outputs
from charlm_tui.core.training.state import TrainState
from charlm_tui.core.training.steering import Steering
from charlm_tui.core.training.step import diverged

EVAL_SHARE = 0.1  # of a time budget, that one eval (train and val) may take at most


class BetweenSteps:
    # The Trainer's parts these read.
    mcfg: ModelConfig
    tcfg: TrainConfig
    model: nn.Module
    optimizer: Any
    dataset: Dataset
    device: torch.device
    dist: distributed.DistInfo
    state: TrainState
    clock: Clock
    early_evals: EarlyTimes
    early_samples: EarlyTimes
    eval_batches: dict[str, Any]
    _run: RunDirectory | None
    _saved_iter: int
    _out: Outputs
    _steering: Steering | None
    peers_lost: bool
    _eval_cut_noted: bool

    def emit(self, event: Event, strict: bool = True) -> None:
        self._out.emit(event, strict)

    def _stopping(self) -> bool:
        """A stop was asked for in this process (the loop agrees on it at its top)."""
        return self._steering is not None and self._steering.stop is not None

    def _note(self, text: str) -> None:
        self.emit(NoteEvent(self.state.iter, text))

    def evaluate(self, t_train: float, tokens: int) -> None:
        state, clock = self.state, self.clock
        started = time.perf_counter()
        metrics: dict[str, Metrics] = {}
        # A time budget bounds the evals too: at most EVAL_SHARE of it each (a rung of a
        # ladder took 73 s to evaluate on a loaded machine, against its 8-s budget).
        budget = self.tcfg.time_budget
        limit = EVAL_SHARE * budget / len(self.eval_batches) if budget else None
        for split, batches in self.eval_batches.items():
            m = estimate(self.model, batches, self.device, self._stopping, limit)
            if m is None:
                return  # stopping: the loop saves last.pt at once, without this eval
            if not math.isfinite(m.loss):
                # Divergence the training loss did not show (a huge lr's last step, say):
                # stop without writing these weights; the checkpoints keep the last finite.
                raise diverged(state.iter - 1, f"the {split} loss at the eval is {m.loss}")
            metrics[split] = m
        t_eval = time.perf_counter() - started
        self._note_cut_eval(metrics)
        val = metrics["val"].loss
        is_best = state.best_val_loss is None or val < state.best_val_loss
        if is_best:
            state.best_val_loss = val
        state.last_eval_iter = state.iter
        state.metrics = {k: m.as_dict() for k, m in metrics.items()}
        self.early_evals.ran(clock.elapsed())
        self.emit(
            EvalEvent(
                iter=state.iter, train=metrics["train"], val=metrics["val"],
                lr=learning_rate(self.tcfg, state.iter, clock.progress(state.iter)),
                t_train_s=t_train, t_eval_s=t_eval,
                tokens_per_s=tokens / t_train if t_train > 0 else 0.0,
                elapsed_s=clock.elapsed(), progress=clock.progress(state.iter),
                eta_s=clock.eta(state.iter), best_val_loss=state.best_val_loss, is_best=is_best,
            )
        )  # fmt: skip
        if is_best:
            self.save("best")
        self.save("last")

    def _note_cut_eval(self, metrics: dict[str, Metrics]) -> None:
        """Say once when an eval scored fewer windows than asked (its time limit)."""
        full = {k: sum(len(b) for b in v) for k, v in self.eval_batches.items()}
        scored = {k: m.n_tokens // max(1, self.mcfg.block_size) for k, m in metrics.items()}
        if not self._eval_cut_noted and any(scored[k] < full[k] for k in metrics):
            self._eval_cut_noted = True
            self._note(
                f"evals cut to fit the {self.tcfg.time_budget:g}s budget: "
                + ", ".join(f"{k} {scored[k]} of {full[k]} windows" for k in metrics)
            )

    def sample(self) -> None:
        state, vocab = self.state, self.dataset.vocab
        previous, state.sampled_iter = state.sampled_iter, state.iter
        self.early_samples.ran(self.clock.elapsed())
        if not self.dist.is_main or not self.tcfg.sample_chars:
            return
        prompt = self.tcfg.sample_prompt or default_context(vocab)
        params = SamplingParams(temperature=self.tcfg.sample_temperature)
        ids, before = [], state.sample_rng.get_state()
        for tok in generate(self.model, vocab.encode(prompt), self.tcfg.sample_chars, params,
                            state.sample_rng, self.device):  # fmt: skip
            if self._stopping():  # Ctrl-C while sampling: stop now, not after 100,000 chars,
                state.sample_rng.set_state(before)  # and resume as if never begun
                state.sampled_iter = previous
                return
            ids.append(tok)
        text = vocab.decode(ids)
        self.emit(SampleEvent(state.iter, prompt, text, params.temperature, self.clock.elapsed()))

    def save(self, kind: str) -> None:
        """Write last.pt or best.pt (rank 0 only) and tell the sinks. Every rank checks
        the weights (the same on all under DDP), so all stop together if they diverged."""
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():  # never write weights a later load refuses
                raise diverged(self.state.iter - 1, f"the weights of {name} are not finite")
        if self._run is None or not self.dist.is_main:
            return
        path = self._run.save(self.checkpoint_state(), kind, self.state.iter)
        if kind == "last":
            self._saved_iter = self.state.iter
        val = self.state.metrics.get("val", {}).get("loss")
        self.emit(CheckpointEvent(self.state.iter, str(path), kind, val))

    def _peer_lost(self, error: RuntimeError) -> str:
        """Another process of the run died mid-collective: this one's weights are whole
        (the failed step never reached the optimizer), so rank 0 saves them."""
        self.peers_lost = True
        saved = ""
        with contextlib.suppress(Exception):  # what can be saved: a failed save is no worse
            self._save_unless_saved()
            saved = f"; last.pt holds iter {self._saved_iter:,}"
        # "[.../gloo/transport/tcp/pair.cc:537] Read error [...]: Connection reset by
        # peer. This is typically caused by...": the error, without where or advice.
        text = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip()).split(". ")[0][:160] or "?"
        return (
            f"another process of the distributed run stopped ({text}){saved}: resume with --resume"
        )

    def _save_unless_saved(self) -> None:
        if self._saved_iter != self.state.iter:
            self.save("last")

    def steered_values(self) -> dict[str, Any]:
        """The steerable options' values in force (control.json starts with them)."""
        return {name: getattr(self.tcfg, name) for name in STEERABLE}

    def config_record(self) -> dict[str, Any]:
        """config.json: the configs, and what the run was built from."""
        corpus = self.dataset.corpus
        return {
            **to_dict(self.mcfg, self.tcfg),
            "n_params": count_params(self.model),
            "vocab_size": len(self.dataset.vocab),
            "corpus": {
                "spec": self.tcfg.data,
                "sha256": corpus.sha256,
                "chars": corpus.n_chars,
                "sources": list(corpus.sources[:50]),
                # What reading it changed: Windows line endings become "\n" (--keep-crlf).
                "crlf_normalised": corpus.crlf,
            },
        }

    def checkpoint_state(self) -> dict[str, Any]:
        return checkpoint_state(self)


def checkpoint_state(trainer: BetweenSteps) -> dict[str, Any]:
    """What last.pt and best.pt hold: weights, optimizer, configs, vocabulary, corpus
    hash and the loop's state (core/training/state.py)."""
    t = trainer
    return {
        "format": FORMAT,
        "model": t.model.state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "config": to_dict(t.mcfg, t.tcfg),
        "vocab": t.dataset.vocab.chars,
        "corpus": {"spec": t.tcfg.data, "sha256": t.dataset.corpus.sha256},
        **t.state.checkpoint(t.clock.elapsed()),
    }
