"""The cost of recording the model's internals: step time with --internals-interval at
its default, at 1 (every step: the cost of one recording) and off, in turns.

    python bench/internals_overhead.py [--presets cpu,tiny] [--rounds 7] [--interval N] [--blocks 4]

For each preset, three trainers of the same model from the same seed (the product's
own build and loop step, the records written to a scratch metrics.jsonl as a run
writes them) take turns: each runs `--blocks` intervals of steps (whole intervals: the
default's block holds that many recordings), then the next, round after round, in
alternating order, so a slow spell of a shared machine hits all three alike.

Reported: a plain step's median time; the default's and every step's overhead over
off (per round, block against block; the target at the default: at most 3%); and one
recording's extra cost as a multiple of a plain step, read within the default's own
blocks (each recording step against the median step around it: the same seconds of
the machine, the least noisy price), with its share of the time at the default.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import corpus, machine, table

from charlm_tui.core.config import SPECS
from charlm_tui.core.runs.records import MetricsWriter
from charlm_tui.core.training.clock import ReadBack, Throughput
from charlm_tui.core.training.distributed import DistInfo
from charlm_tui.core.training.outputs import Outputs
from charlm_tui.core.training.plan import plan_new
from charlm_tui.core.training.trainer import Trainer, build

DEFAULT = SPECS["internals_interval"].default


def trainer_for(preset: str, interval: int, scratch: Path) -> tuple[Trainer, ReadBack]:
    scratch.mkdir(parents=True, exist_ok=True)
    values = dict(data=corpus(), max_iters=10**6, internals_interval=interval)
    plan = plan_new(preset, values, scratch / f"{preset}-{interval}")
    trainer = build(plan, DistInfo())
    trainer._out = Outputs(None, [MetricsWriter(scratch / f"{preset}-{interval}.jsonl")], True)
    trainer.model.train()
    trainer.clock.start(0)
    speed = Throughput(plan.tcfg.batch_size * plan.mcfg.block_size)
    return trainer, ReadBack(speed)


def block(trainer: Trainer, steps: ReadBack, n: int) -> list[float]:
    """Seconds of each of n steps of the training loop's own step (record, emit, health)."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        trainer._step_once(steps)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="cpu,tiny")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--interval", type=int, default=DEFAULT, help="the interval to price")
    ap.add_argument("--blocks", type=int, default=4, help="intervals per side per round")
    args = ap.parse_args()
    k, n = args.interval, args.interval * args.blocks
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            # "off again" is a second trainer without recordings: its difference from
            # "off" is what the method reads where there is nothing to find (A/A).
            arms = (("off", 0), ("default", k), ("every", 1), ("off again", 0))
            sides = {name: trainer_for(preset, interval, Path(tmp) / name.replace(" ", "-"))
                     for name, interval in arms}  # fmt: skip
            for trainer, steps in sides.values():  # warm-up: allocator, first recordings
                block(trainer, steps, k)  # and the blocks end on recordings
            rounds: dict[str, list[list[float]]] = {name: [] for name in sides}
            order = list(sides)
            for _ in range(args.rounds):
                for name in order:  # A B C, then C B A: a drifting machine favours none
                    trainer, steps = sides[name]
                    rounds[name].append(block(trainer, steps, n))
                order.reverse()
            # Per round, each side's block against off's block of the same round.
            ratio = [
                sum(d) / sum(o) - 1 for d, o in zip(rounds["default"], rounds["off"], strict=True)
            ]
            every = [
                sum(e) / sum(o) - 1 for e, o in zip(rounds["every"], rounds["off"], strict=True)
            ]
            floor = [
                sum(a) / sum(o) - 1 for a, o in zip(rounds["off again"], rounds["off"], strict=True)
            ]
            # Within the default's blocks: its one recording step against the plain steps
            # around it (the same seconds of the machine: the least noisy price).
            recorded = sides["default"][0]
            extra = []
            for times in rounds["default"]:
                plain = statistics.median(times)
                extra += [t / plain - 1 for t in times[k - 1 :: k]]  # iterations k, 2k, ...
            median = statistics.median
            rows.append(
                [
                    preset,
                    f"{median(statistics.median(b) for b in rounds['off']) * 1e3:.2f} ms",
                    f"{median(ratio):+.1%} ({min(ratio):+.1%} .. {max(ratio):+.1%})",
                    f"{median(floor):+.1%} ({min(floor):+.1%} .. {max(floor):+.1%})",
                    f"{median(every):+.0%}",
                    f"{median(extra):.2f}×",
                    f"{median(extra) / k:+.1%}",
                ]
            )
            assert recorded.state.iter % k == 0
    print(f"machine: {machine()}")
    print(f"load before: {load}")
    print(f"{args.rounds} rounds in turns of {n} steps per side; medians over the rounds")
    print(
        table(
            [
                "preset",
                "step, off",
                f"overhead at {k} (range)",
                "off vs off, A/A (range)",
                "overhead at 1",
                "one recording, extra (× a step)",
                f"its share at {k}",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
