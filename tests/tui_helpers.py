"""Deterministic run directories and checkpoints for the TUI tests and snapshots."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch

from charlm_tui.core.config import build_configs, to_dict
from charlm_tui.core.measures import Metrics
from charlm_tui.core.models import build_model, count_params, summarize
from charlm_tui.core.models.checkpoint import FORMAT, save_checkpoint
from charlm_tui.core.runs.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    SampleEvent,
    StartEvent,
    StepEvent,
)
from charlm_tui.core.runs.records import MetricsWriter, SamplesWriter
from charlm_tui.core.runs.rundir import METRICS, SAMPLES, write_config
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.training.state import TrainState
from tests.conftest import make_text

FIXED_TIME = 1_790_000_000.0  # what the snapshot tests' clock says "now" is


def fake_run(
    root: Path, name: str, iters: int = 400, done: str | None = "finished", age_s: float = 3600.0
) -> Path:
    """A run directory with smooth, fully deterministic records (no training needed),
    written through the real writers: a change of the schema shows up here too."""
    run = root / name
    run.mkdir(parents=True)
    text = make_text(5000, seed=1)
    vocab = Vocab.from_text(text)
    mcfg, tcfg = build_configs("tiny", dict(data="play.txt", max_iters=iters))
    mcfg.vocab_size = len(vocab)
    torch.manual_seed(0)
    model = build_model(mcfg)
    config = to_dict(mcfg, tcfg)
    config.update(n_params=count_params(model), vocab_size=len(vocab))
    write_config(run, config)
    metrics, samples = MetricsWriter(run / METRICS), SamplesWriter(run / SAMPLES)
    metrics.handle(
        StartEvent(
            iter=0,
            run_dir=str(run),
            model="gpt",
            data="play.txt",
            max_iters=iters,
            time_budget=None,
            n_params=count_params(model),
            vocab_size=len(vocab),
            train_chars=4500,
            val_chars=500,
            device="cpu",
            threads=2,
            world_size=1,
            resumed=False,
            layers=tuple(summarize(model)),
        )
    )
    best = math.inf
    for it in range(0, iters + 1, 10):
        loss = 1.6 + 2.6 * math.exp(-it / 120) + 0.05 * math.sin(it)
        if it:
            metrics.handle(
                StepEvent(
                    it, loss, 3e-3, 1.0, 0.01, 51200.0, it * 0.01, it / iters, (iters - it) * 0.01
                )
            )
        if it % 100 == 0:
            val = 1.65 + 2.6 * math.exp(-it / 120)
            best = min(best, val)
            metrics.handle(
                EvalEvent(
                    iter=it,
                    train=Metrics(val - 0.03, 0.2 + it / 2000, 0.5 + it / 1000, 2560),
                    val=Metrics(val, 0.19 + it / 2000, 0.49 + it / 1000, 2560),
                    lr=3e-3,
                    t_train_s=1.0,
                    t_eval_s=0.1,
                    tokens_per_s=51200.0,
                    elapsed_s=it * 0.01,
                    progress=it / iters,
                    eta_s=(iters - it) * 0.01,
                    best_val_loss=best,
                    is_best=True,
                )
            )
            samples.handle(
                SampleEvent(
                    it,
                    "\n",
                    f"\nKING HENRY:\nSample number {it // 100}, my lord.\n",
                    0.8,
                    it * 0.01,
                )
            )
    for kind in ("best", "last"):
        metrics.handle(CheckpointEvent(iters, str(run / f"{kind}.pt"), kind, 1.65))
    if done:
        metrics.handle(DoneEvent(iters, done, iters * 0.01, best, "", str(run / "last.pt")))
    metrics.close()
    samples.close()
    state = TrainState.new(tcfg.seed)
    state.iter, state.metrics = iters, {"val": {"loss": 1.65}}
    ckpt = {
        "format": FORMAT,
        "model": model.state_dict(),
        "config": config,
        "vocab": vocab.chars,
        **state.checkpoint(iters * 0.01),
    }
    save_checkpoint(ckpt, run / "best.pt")
    save_checkpoint(ckpt, run / "last.pt")
    for p in run.iterdir():
        os.utime(p, (FIXED_TIME - age_s, FIXED_TIME - age_s))
    return run


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run until condition() holds (training and generation are threads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)
