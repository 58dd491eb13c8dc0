"""Deterministic run directories and checkpoints for the TUI tests and snapshots."""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch

from core.checkpoint import FORMAT, save_checkpoint
from core.config import build_configs, to_dict
from core.models import build_model, count_params, summarize
from core.vocab import Vocab
from tests.conftest import make_text

FIXED_TIME = 1_790_000_000.0  # what the snapshot tests' clock says "now" is


def fake_run(
    root: Path, name: str, iters: int = 400, done: str | None = "finished", age_s: float = 3600.0
) -> Path:
    """A run directory with smooth, fully deterministic records (no training needed)."""
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
    (run / "config.json").write_text(json.dumps(config, indent=2))
    records = [
        {
            "event": "start",
            "iter": 0,
            "n_params": count_params(model),
            "n_trainable": count_params(model),
            "device": "cpu",
            "threads": 2,
            "world_size": 1,
            "resumed": False,
            "layers": [[r.name, r.kind, r.params] for r in summarize(model)],
        }
    ]
    samples = []
    for it in range(0, iters + 1, 10):
        loss = 1.6 + 2.6 * math.exp(-it / 120) + 0.05 * math.sin(it)
        if it:
            records.append(
                {
                    "event": "step",
                    "iter": it,
                    "loss": loss,
                    "lr": 3e-3,
                    "grad_norm": 1.0,
                    "dt_s": 0.01,
                    "tokens_per_s": 51200.0,
                    "elapsed_s": it * 0.01,
                    "progress": it / iters,
                    "eta_s": (iters - it) * 0.01,
                }
            )
        if it % 100 == 0:
            val = 1.65 + 2.6 * math.exp(-it / 120)
            records.append(
                {
                    "event": "eval",
                    "iter": it,
                    "train_loss": val - 0.03,
                    "val_loss": val,
                    "train_bpc": (val - 0.03) / math.log(2),
                    "val_bpc": val / math.log(2),
                    "train_top1": 0.2 + it / 2000,
                    "val_top1": 0.19 + it / 2000,
                    "train_top5": 0.5 + it / 1000,
                    "val_top5": 0.49 + it / 1000,
                    "lr": 3e-3,
                    "t_train_s": 1.0,
                    "t_eval_s": 0.1,
                    "tokens_per_s": 51200.0,
                    "elapsed_s": it * 0.01,
                    "progress": it / iters,
                    "eta_s": (iters - it) * 0.01,
                    "best_val_loss": val,
                }
            )
            samples.append(
                {
                    "event": "sample",
                    "iter": it,
                    "prompt": "\n",
                    "temperature": 0.8,
                    "text": f"\nKING HENRY:\nSample number {it // 100}, my lord.\n",
                    "elapsed_s": it * 0.01,
                }
            )
    if done:
        records.append(
            {
                "event": "done",
                "iter": iters,
                "reason": done,
                "elapsed_s": iters * 0.01,
                "best_val_loss": records[-1].get("val_loss"),
                "message": "",
            }
        )
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    state = {
        "format": FORMAT,
        "model": model.state_dict(),
        "config": config,
        "vocab": vocab.chars,
        "iter": iters,
        "metrics": {"val": {"loss": 1.65}},
    }
    save_checkpoint(state, run / "best.pt")
    save_checkpoint(state, run / "last.pt")
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
