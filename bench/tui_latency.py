"""What a key press costs in the TUI: the dashboard's first frame, the pane's first character.

    python bench/tui_latency.py [--steps 10000,100000,1000000] [--rounds 3]

Both in the Textual app driven by Pilot (headless, laying out and rendering as in a
terminal of 120x36), timed from the key press:

  dashboard  Enter on a run in home, to the dashboard with the run's curves drawn, for
             runs of --steps step records; beside it the floor, json.loads of the run's
             lines (target: the dashboard opens in ≤ 2x that read)
  generate   Enter in the generate pane (`cpu` preset shape), to the first character on
             screen: the first press starts the decoder process (import torch, load the
             weights), later presses find it warm
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, table
from bench.generate_pane import checkpoint
from bench.records_scale import raw
from bench.runs_scale import append_steps
from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.runs.rundir import METRICS
from tests.tui_helpers import fake_run

POLL_S = 0.002


async def until(pilot, ready) -> None:
    while not ready():
        await pilot.pause(POLL_S)


def dashboard_open(folder: Path) -> float:
    """Seconds from Enter on home's run to the dashboard with its curves drawn."""
    from charlm_tui.tui.app import CharLMApp
    from charlm_tui.tui.screens.dashboard import DashboardScreen
    from charlm_tui.tui.screens.home import HomeScreen

    took = {}

    async def go() -> None:
        app = CharLMApp(runs_dir=folder)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.selected)
            t = time.perf_counter()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
            screen = app.screen
            await until(
                pilot, lambda: screen.view.steps and screen._drawn_chart == screen.view.version
            )
            await pilot.pause()  # the frame with the curves
            took["s"] = time.perf_counter() - t

    asyncio.run(go())
    return took["s"]


def first_characters(path: Path, presses: int) -> list[float]:
    """Seconds from Enter in the generate pane to its first character, press by press."""
    from charlm_tui.tui.app import CharLMApp
    from charlm_tui.tui.screens.generate import GenerateScreen

    took: list[float] = []

    async def go() -> None:
        app = CharLMApp(generate=(path, GenerateOptions(max_new_tokens=500)))
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, GenerateScreen))
            screen = app.screen
            for _ in range(presses):
                t = time.perf_counter()
                # Pilot's press returns once the app is idle, which streaming delays:
                # the key goes in beside the watch for the first character instead.
                press = asyncio.create_task(pilot.press("enter"))
                while not screen.running:  # begin() has cleared the last text
                    await asyncio.sleep(POLL_S)
                while not screen.output.generated:
                    await asyncio.sleep(POLL_S)
                took.append(time.perf_counter() - t)
                await press
                await until(pilot, lambda: not screen.running)

    asyncio.run(go())
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="10000,100000,1000000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for steps in (int(s) for s in args.steps.split(",")):
            folder = Path(tmp) / f"runs-{steps}"
            run = fake_run(folder, "run", iters=10, done=None)
            append_steps(run, 11, steps, steps)
            reads, opens = [], []
            for _ in range(args.rounds):  # in turns
                t = time.perf_counter()
                raw(run / METRICS)
                reads.append(time.perf_counter() - t)
                opens.append(dashboard_open(folder))
            a, b = statistics.median(reads), statistics.median(opens)
            rows.append([f"dashboard, {steps:,} steps", f"{b:.3f} s",
                         f"{b / a:.2f}x json.loads ({a:.3f} s)"])  # fmt: skip
        path = checkpoint("cpu", Path(tmp))
        cold, warm = [], []
        for _ in range(args.rounds):
            first, *later = first_characters(path, 4)
            cold.append(first)
            warm += later
        rows.append(
            ["generate, first press (decoder starts)", f"{statistics.median(cold):.3f} s", ""]
        )
        rows.append(["generate, later presses", f"{statistics.median(warm) * 1e3:.1f} ms", ""])
    print(machine())
    print(f"median of {args.rounds} rounds; from the key press, 120x36")
    print(table(["key press", "to first frame / character", "ratio"], rows))


if __name__ == "__main__":
    main()
