"""What --jobs buys a seed group: N replicas one after another against --jobs K at once
(each with its share of the cores), whole commands, in turns.

    python bench/seed_jobs.py [--preset tiny] [--seeds 4] [--jobs 2] [--iters 300] [--rounds 3]

Each turn is the CLI a user types (`charlm-tui --no-ui train ... --seeds N [--jobs K]`)
into a fresh folder, start-up and the end's full-split scoring included; sequential and
parallel alternate (A B, then B A), so a drifting machine favours neither. Reported: the
median wall time of each and their ratio, and the same for twice the seeds, to show how
the cost grows with the group.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import corpus, machine, table


def one(preset: str, seeds: int, jobs: int, iters: int, out: Path) -> float:
    argv = [sys.executable, "-m", "charlm_tui", "--no-ui", "train", "--preset", preset,
            "--data", corpus(), "--max-iters", str(iters), "--seeds", str(seeds),
            "--jobs", str(jobs), "--sample-interval", "0", "--out", str(out)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seeds in (args.seeds, 2 * args.seeds):
            times: dict[int, list[float]] = {1: [], args.jobs: []}
            order = [1, args.jobs]
            for r in range(args.rounds):
                for jobs in order:
                    out = Path(tmp) / f"s{seeds}-j{jobs}-r{r}"
                    times[jobs].append(one(args.preset, seeds, jobs, args.iters, out))
                order.reverse()
            seq, par = (statistics.median(times[j]) for j in (1, args.jobs))
            rows.append([seeds, f"{seq:.1f} s", f"{par:.1f} s", f"{seq / par:.2f}×"])
    print(f"machine: {machine()}")
    print(f"{args.preset}, {args.iters} iterations a replica, {args.rounds} rounds in turns")
    print(table(["seeds", "one at a time", f"--jobs {args.jobs}", "speed-up"], rows))


if __name__ == "__main__":
    main()
