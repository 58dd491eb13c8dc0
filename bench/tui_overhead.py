"""Training throughput with the dashboard open vs headless, same config.

    python bench/tui_overhead.py [--preset cpu] [--iters 150] [--rounds 3] [--set KEY=VALUE]

Each round trains the same model from the same seed twice, as the product does it:
`charlm-tui --no-ui train` alone, and the same training child process while the
Textual dashboard follows and draws it (driven headless at 120x36: the full
compositor runs, only the bytes to the terminal are skipped). Throughput is tokens
per second of training steps (eval excluded), read from each run's metrics.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import corpus, machine, table

from charlm_tui.core.config import SPECS
from charlm_tui.core.runs.events import StepEvent
from charlm_tui.core.runs.records import read_records
from charlm_tui.core.training.plan import plan_new
from charlm_tui.tui.process import train_argv
from charlm_tui.tui.screens.new_run import Problem, parse_field

OVERRIDES: dict[str, object] = {}  # --set KEY=VALUE


def plan_for(preset: str, iters: int, out: Path):
    values = dict(
        data=corpus(), max_iters=iters, eval_interval=50, sample_interval=100, log_interval=1
    )
    return plan_new(preset, {**values, **OVERRIDES}, out)


def tokens_per_step(plan) -> int:
    return plan.tcfg.batch_size * plan.mcfg.block_size


def rate(run_dir: Path, tokens_per_step: int) -> float:
    dts = [e.dt_s for e in read_records(run_dir / "metrics.jsonl") if isinstance(e, StepEvent)]
    dts = dts[5:]  # skip warm-up steps
    return tokens_per_step * len(dts) / sum(dts)


def headless(preset: str, iters: int, tmp: Path) -> float:
    plan = plan_for(preset, iters, tmp / "headless")
    subprocess.run(train_argv(plan), check=True, stdout=subprocess.DEVNULL)
    return rate(tmp / "headless", tokens_per_step(plan))


def dashboard(preset: str, iters: int, tmp: Path) -> float:
    from charlm_tui.tui.app import CharLMApp

    out = tmp / "tui"
    plan = plan_for(preset, iters, out)

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp, train=plan)
        async with app.run_test(size=(120, 36)):
            # Plain sleeps: Pilot.pause() posts a callback to every widget on the screen
            # and forces a compositor refresh, 40% of the UI's CPU at 5 Hz (measured),
            # which no terminal session does.
            await asyncio.sleep(1.0)
            while app.training:
                await asyncio.sleep(0.5)

    asyncio.run(go())
    return rate(out, tokens_per_step(plan))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    for kv in args.set:
        key, value = kv.split("=", 1)
        typed = parse_field(SPECS[key], value)  # the new-run form's rule for typed text
        if isinstance(typed, Problem):
            ap.error(f"--set {key}: {typed.text}")
        OVERRIDES[key] = typed
    rows, ratios = [], []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as d:
            h = headless(args.preset, args.iters, Path(d))
        with tempfile.TemporaryDirectory() as d:
            t = dashboard(args.preset, args.iters, Path(d))
        ratios.append(t / h)
        rows.append([r + 1, f"{h:,.0f}", f"{t:,.0f}", f"{t / h:.3f}"])
    print(f"machine: {machine()}")
    what = " ".join([args.preset, *args.set])
    print(f"preset {what}, {args.iters} iterations per run, corpus {corpus()}")
    print(table(["round", "headless tok/s", "dashboard tok/s", "dashboard / headless"], rows))
    print(f"median ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
