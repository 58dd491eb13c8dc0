"""Many long runs in one folder: listing, re-listing, home's idle refresh and memory.

    python bench/runs_scale.py [--runs 20] [--steps 100000] [--rounds 3]

Makes a folder of `--runs` runs of `--steps` step records each (as a long run logging
every step writes them), then, in turns in this one process:

  json.loads  every line of every metrics.jsonl parsed, nothing typed: the floor
  1st list    a fresh `RunViews().list(folder)`: what `runs`, compare's loading and
              home's first listing do
  re-list     100 records appended to every run, then the same RunViews lists again:
              what home's refresh does while the runs train (it reads only what grew)
  idle        the same RunViews lists a folder where nothing changed: home's refresh
              every two seconds, as a share of one core

Memory: what a RunViews keeps after listing (tracemalloc), at half and at all of the
records: it grows with the runs, not with the records already folded.
Targets: 1st list ≤ 1.5x json.loads, re-list ≤ 2% of the 1st list, idle ≤ 5% of a core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, table
from bench.records_scale import raw
from charlm_tui.core.runs.events import StepEvent, record_of
from charlm_tui.core.runs.listing import RunViews
from charlm_tui.core.runs.records import dump_line
from charlm_tui.core.runs.rundir import METRICS
from tests.tui_helpers import fake_run

REFRESH_S = 2.0  # home lists its folder every two seconds


def append_steps(run: Path, first: int, count: int, total: int) -> None:
    with (run / METRICS).open("a", encoding="utf-8") as f:
        for it in range(first, first + count):
            loss = 1.5 + 2.5 / (1 + it / 500)
            step = StepEvent(it, loss, 3e-3, 0.8, 0.012, 41000.0, it * 0.012, it / total, 9.0)
            f.write(dump_line({**record_of(step), "time": 1.79e9 + it * 0.012}))


def raw_all(folder: Path) -> int:
    """The floor: json.loads of every line of every run's records."""
    return sum(raw(path) for path in sorted(folder.glob(f"*/{METRICS}")))


def kept_bytes(folder: Path) -> int:
    """What a RunViews holds after listing the folder (tracemalloc, in bytes)."""
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    views = RunViews()
    views.list(folder)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    kept = sum(s.size_diff for s in after.compare_to(before, "filename"))
    del views
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "runs"
        # A run's folder as the real writers make it (config, start, a first eval), then
        # its step records from iteration 11 on.
        runs = [fake_run(folder, f"run-{k:02d}", iters=10, done=None) for k in range(args.runs)]
        half = args.steps // 2
        for run in runs:
            append_steps(run, 11, half, args.steps)
        memory_half = kept_bytes(folder)
        for run in runs:
            append_steps(run, 11 + half, args.steps - half, args.steps)
        memory_all = kept_bytes(folder)
        size = sum(p.stat().st_size for p in folder.glob(f"*/{METRICS}"))
        times: dict[str, list[float]] = {"raw": [], "first": [], "again": [], "idle": []}
        at = 11 + args.steps
        for _ in range(args.rounds):  # in turns
            t = time.perf_counter()
            raw_all(folder)
            times["raw"].append(time.perf_counter() - t)
            views = RunViews()
            t = time.perf_counter()
            views.list(folder)
            times["first"].append(time.perf_counter() - t)
            for run in runs:
                append_steps(run, at, 100, args.steps)
            at += 100
            t = time.perf_counter()
            views.list(folder)
            times["again"].append(time.perf_counter() - t)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(20):
                views.list(folder)
            times["idle"].append((time.process_time() - c0) / 20)
            del t0
    med = {k: statistics.median(v) for k, v in times.items()}
    print(machine())
    print(
        f"{args.runs} runs x {args.steps:,} step records ({size / 1e6:,.0f} MB of records); "
        f"median of {args.rounds} rounds in turns"
    )
    rows = [
        ["json.loads, every line", f"{med['raw']:.3f} s", "1.00x json.loads", ""],
        ["1st list (runs, compare, home)", f"{med['first']:.3f} s",
         f"{med['first'] / med['raw']:.2f}x json.loads", "≤ 1.5x"],
        ["re-list after +100 records/run", f"{med['again'] * 1e3:.1f} ms",
         f"{med['again'] / med['first']:.2%} of 1st list", "≤ 2%"],
        ["idle re-list (CPU)", f"{med['idle'] * 1e3:.2f} ms",
         f"{med['idle'] / REFRESH_S:.3%} of a core every {REFRESH_S:.0f} s", "≤ 5%"],
        ["kept after listing, half the records", f"{memory_half / 1e6:.2f} MB", "", ""],
        ["kept after listing, all the records", f"{memory_all / 1e6:.2f} MB",
         f"{memory_all / max(memory_half, 1):.2f}x half", "flat"],
    ]  # fmt: skip
    print(table(["side", "time / memory", "ratio", "target"], rows))


if __name__ == "__main__":
    main()
