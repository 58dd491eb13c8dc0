"""This tree's training step throughput against an older commit's, timed in turns.

    python bench/vs_commit.py --ref c8aeb04 [--preset cpu] [--iters 200] [--rounds 4]

Guards a refactor against costing speed: the commit's files are unpacked with
`git archive` into a temporary folder, and both trees run the real headless CLI
(`python -m charlm_tui --no-ui train`) with the same interpreter and packages, in turns
A B B A so a slow spell of a shared machine hits both. Throughput is tokens per
second of training steps (warm-up steps and evals excluded), read from each run's
metrics.jsonl, which both formats write with `dt_s` per step record.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from common import corpus, machine, table

ROOT = Path(__file__).resolve().parent.parent


def unpack(ref: str, where: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tree = where / "tree"
    tree.mkdir()
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(tree, filter="data")
    return tree


def rate(tree: Path, preset: str, iters: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "run"
        argv = [sys.executable, "-m", "charlm_tui", "--no-ui", "train", "--preset", preset]
        argv += ["--data", corpus(), "--max-iters", str(iters), "--eval-interval", "100000"]
        argv += ["--sample-interval", "0", "--log-interval", "1", "--out", str(out)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run(argv, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        dts = [r["dt_s"] for r in records if r.get("event") == "step"][5:]
        config = json.loads((out / "config.json").read_text())
        tokens = config["train"]["batch_size"] * config["model"]["block_size"]
        return tokens * len(dts) / sum(dts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="the older commit, e.g. c8aeb04")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as d:
        old_tree = unpack(args.ref, Path(d))
        for r in range(args.rounds):
            first, second = (ROOT, old_tree) if r % 2 else (old_tree, ROOT)
            timed = {first: rate(first, args.preset, args.iters)}
            timed[second] = rate(second, args.preset, args.iters)
            old, new = timed[old_tree], timed[ROOT]
            ratios.append(new / old)
            rows.append([r + 1, f"{old:,.0f}", f"{new:,.0f}", f"{new / old:.3f}"])
    print(f"machine: {machine()}")
    print(f"preset {args.preset}, {args.iters} iterations a run, {args.ref} against this tree")
    print(table(["round", f"{args.ref} tok/s", "this tree tok/s", "this / old"], rows))
    print(f"median ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
