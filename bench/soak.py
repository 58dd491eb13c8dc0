"""Soak: a long headless run; resident memory and time per iteration must stay flat.

    python bench/soak.py [--minutes 30] [--preset seed]

Trains in this process (no dashboard) and samples RSS from /proc/self/status and the
median step time in each window of the run. Prints one row per window.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import corpus, machine, table

from charlm_tui.core.runs.events import StepEvent
from charlm_tui.core.training.distributed import DistInfo
from charlm_tui.core.training.plan import plan_new
from charlm_tui.core.training.trainer import execute


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Windows:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.t0 = time.perf_counter()
        self.rows: list[list[object]] = []
        self.dts: list[float] = []
        self.first_iter = 0

    def handle(self, e) -> None:
        if not isinstance(e, StepEvent):
            return
        self.dts.append(e.dt_s)
        if time.perf_counter() - self.t0 >= self.seconds * (len(self.rows) + 1):
            self.rows.append(
                [
                    f"{(time.perf_counter() - self.t0) / 60:.0f} min",
                    f"{self.first_iter}-{e.iter}",
                    f"{statistics.median(self.dts) * 1000:.1f}",
                    f"{rss_mib():.0f}",
                ]
            )
            print(" | ".join(map(str, self.rows[-1])), flush=True)
            self.dts, self.first_iter = [], e.iter

    def close(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--preset", default="seed")
    ap.add_argument("--window", type=float, default=300, help="seconds per row")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        plan = plan_new(
            args.preset, dict(data=corpus(), time_budget=args.minutes * 60), Path(d) / "soak"
        )
        start_rss = rss_mib()
        windows = Windows(args.window)
        done = execute(plan, DistInfo(), sinks=[windows])
    print(f"machine: {machine()}")
    print(
        f"preset {args.preset}, {args.minutes:g} minutes, {done.iter} iterations, "
        f"RSS before training {start_rss:.0f} MiB"
    )
    print(table(["elapsed", "iterations", "median step ms", "RSS MiB"], windows.rows))


if __name__ == "__main__":
    main()
