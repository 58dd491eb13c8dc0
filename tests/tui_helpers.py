"""Deterministic run directories and checkpoints, tiny trainings, and driving an app: what
the TUI tests and snapshots share."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path

import torch

from charlm_tui.core.config import build_configs, to_dict
from charlm_tui.core.measures import Metrics
from charlm_tui.core.models import build_model, count_params, summarize
from charlm_tui.core.models.checkpoint import FORMAT, save_checkpoint
from charlm_tui.core.runs import events  # fake_run writes every kind of event
from charlm_tui.core.runs.records import MetricsWriter, SamplesWriter, read_records
from charlm_tui.core.runs.rundir import METRICS, SAMPLES, write_config
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.training.plan import RunPlan, plan_new
from charlm_tui.core.training.state import TrainState
from tests.conftest import make_text

FIXED_TIME = 1_790_000_000.0  # what the snapshot tests' clock says "now" is


def fake_run(
    root: Path,
    name: str,
    iters: int = 400,
    done: str | None = "finished",
    age_s: float = 3600.0,
    seed: int = 1337,
) -> Path:
    """A run directory with smooth, fully deterministic records (no training needed),
    written through the real writers: a change of the schema shows up here too."""
    run = root / name
    run.mkdir(parents=True)
    text = make_text(5000, seed=1)
    vocab = Vocab.from_text(text)
    mcfg, tcfg = build_configs("tiny", dict(data="play.txt", max_iters=iters, seed=seed))
    mcfg.vocab_size = len(vocab)
    torch.manual_seed(0)
    model = build_model(mcfg)
    config = to_dict(mcfg, tcfg)
    config.update(n_params=count_params(model), vocab_size=len(vocab))
    write_config(run, config)
    metrics, samples = MetricsWriter(run / METRICS), SamplesWriter(run / SAMPLES)
    metrics.handle(
        events.StartEvent(
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
                events.StepEvent(
                    it, loss, 3e-3, 1.0, 0.01, 51200.0, it * 0.01, it / iters, (iters - it) * 0.01
                )
            )
        if it % 100 == 0:
            val = 1.65 + 2.6 * math.exp(-it / 120)
            best = min(best, val)
            metrics.handle(
                events.EvalEvent(
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
                events.SampleEvent(
                    it,
                    "\n",
                    f"\nKING HENRY:\nSample number {it // 100}, my lord.\n",
                    0.8,
                    it * 0.01,
                )
            )
    for kind in ("best", "last"):
        metrics.handle(events.CheckpointEvent(iters, str(run / f"{kind}.pt"), kind, 1.65))
    if done:
        metrics.handle(events.DoneEvent(iters, done, iters * 0.01, best, "", str(run / "last.pt")))
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


def tiny_train(corpus: Path, out: Path, **over) -> RunPlan:
    """What CharLMApp(train=...) takes: a checked plan for a long tiny run."""
    values = dict(
        data=str(corpus), max_iters=100_000, eval_interval=50, sample_interval=0, log_interval=1
    )
    values.update(over)
    return plan_new("tiny", values, out)


@contextlib.asynccontextmanager
async def live_dashboard(
    corpus: Path, out: Path, steps: int, size: tuple[int, int] = (120, 36)
) -> AsyncIterator[tuple]:
    """(app, pilot, dashboard) of a CharLMApp training tiny_train(corpus, out) in a child,
    its runs folder out's parent, once the dashboard shows more than `steps` steps."""
    from charlm_tui.tui.app import CharLMApp
    from tests.waiting import wait_for

    app = CharLMApp(runs_dir=out.parent, train=tiny_train(corpus, out))
    async with app.run_test(size=size) as pilot:
        dash = app.screen
        await wait_for(pilot, lambda: dash.live and dash.view.iter > steps, f"{steps} steps")
        yield app, pilot, dash


async def stop_training(pilot, app) -> None:
    """Press s (stop: the run saves last.pt) and wait for the training child to exit."""
    from tests.waiting import wait_for

    await pilot.press("s")
    await wait_for(pilot, lambda: not app.training, "the training process to exit")


def done_reasons(run_dir: Path) -> list[events.DoneEvent]:
    """The done records of a run, oldest first."""
    return [e for e in read_records(run_dir / "metrics.jsonl") if isinstance(e, events.DoneEvent)]


def run(coro) -> None:
    """Drive an app scenario (a coroutine using app.run_test) to its end."""
    asyncio.run(coro)


def dashboard_drawn(dash) -> bool:
    """A DashboardScreen has drawn what its run's records hold: its panels and its chart."""
    return dash.view.version == dash._drawn == dash._drawn_chart


def footer_keys(app) -> set[str]:
    """The keys of the footer drawn wholly on the screen, none under the palette's key
    (docked at the right end, it covers whatever runs into it)."""
    from textual.widgets._footer import FooterKey

    width = app.screen.size.width
    keys = [k for k in app.screen.query(FooterKey) if k.region.width]
    palette = [k.region for k in keys if k.key == app.COMMAND_PALETTE_BINDING]
    return {
        k.key
        for k in keys
        if k.region.right <= width
        and (k.key == app.COMMAND_PALETTE_BINDING or not any(k.region.overlaps(r) for r in palette))
    }


def footer_cut(app) -> list[str]:
    """The footer keys shown but not whole: past the screen's edge, or under the palette's
    key. Empty when the footer fits."""
    from textual.widgets._footer import FooterKey

    width = app.screen.size.width
    keys = [k for k in app.screen.query(FooterKey) if k.display and k.region.width]
    palette = [k.region for k in keys if k.has_class("-command-palette")]
    limit = palette[0].x if palette else width
    return [k.key for k in keys if not k.has_class("-command-palette") and k.region.right > limit]


def footer_labels(app) -> set[str]:
    """What the footer's keys say they do ("Pause", "Resume", ...)."""
    from textual.widgets._footer import FooterKey

    return {k.description for k in app.screen.query(FooterKey) if k.region.width}


async def opened(pilot, app, screen_type: type):
    """The screen of `screen_type` once it is on top and mounted (a pane that loads a
    checkpoint in a worker opens when it is loaded)."""
    from tests.waiting import wait_for

    def shown() -> bool:
        return isinstance(app.screen, screen_type) and app.screen.is_mounted

    await wait_for(pilot, shown, f"the {screen_type.__name__}, mounted")
    await pilot.pause()  # its first messages handled
    return app.screen
