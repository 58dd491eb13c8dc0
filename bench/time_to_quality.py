"""Time to quality: val loss reached by `--preset cpu` in a fixed time budget.

    python bench/time_to_quality.py                       # the preset as it ships
    python bench/time_to_quality.py --sweep               # the sweep recorded in BENCHMARKS.md
    python bench/time_to_quality.py --set n_layer=6 --set lr=3e-3   # one variant

Each run is the real CLI: `charlm-tui --no-ui train --data tinyshakespeare.txt --preset cpu
--time-budget 300 [overrides]`, then `charlm-tui eval best.pt --split val --json`, which
scores every position of the validation split. Runs one after another (each one needs the
whole machine); rows are printed as they finish.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, corpus, full_split_score, machine, table

from charlm_tui.core.runs.events import DoneEvent, EvalEvent
from charlm_tui.core.runs.records import read_records

GPT2 = {"position": "learned", "activation": "gelu", "optimizer": "adamw"}
ADAMW = {"optimizer": "adamw"}
SWEEP: list[dict[str, str]] = [
    # nanoGPT's documented CPU recipe (GPT-2's model), given the whole budget: the reference
    {**GPT2, "block_size": "64", "batch_size": "12", "lr": "1e-3", "min_lr": "1e-4"},
    {**GPT2, "block_size": "64", "batch_size": "24"},  # the cpu preset of the first sweep
    {**ADAMW, "block_size": "64", "batch_size": "24"},
    {**ADAMW, "block_size": "64", "batch_size": "24", "dropout": "0.1"},
    {**ADAMW, "block_size": "64", "batch_size": "16"},
    ADAMW,  # the cpu preset of the second sweep: block 128, batch 12
    {**ADAMW, "batch_size": "8"},
    {**ADAMW, "block_size": "256", "batch_size": "6"},
    # third sweep: Muon
    {},  # the cpu preset as it ships
    {"batch_size": "16"},
    {"lr": "5e-3", "min_lr": "5e-4"},
    {"weight_decay": "0"},
    {"weight_decay": "0.4"},
    {"weight_decay": "1.0"},
    {"block_size": "64", "batch_size": "24"},
    {"n_layer": "6", "n_embd": "96"},
]


def run(overrides: dict[str, str], budget: float, tmp: Path) -> list[object]:
    out = tmp / "run"
    argv = [
        sys.executable,
        "-m",
        "charlm_tui",
        "--no-ui",
        "train",
        "--data",
        corpus(),
        "--preset",
        "cpu",
        "--time-budget",
        str(budget),
        "--out",
        str(out),
        "--overwrite",
    ]
    for k, v in overrides.items():
        argv += ["--" + k.replace("_", "-"), v]
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    score = full_split_score(out / "best.pt")
    records = read_records(out / "metrics.jsonl")
    evals = [e for e in records if isinstance(e, EvalEvent)]
    done = [e for e in records if isinstance(e, DoneEvent)][-1]
    t_train = sum(e.t_train_s for e in evals)  # every training step, across the evals
    config = json.loads((out / "config.json").read_text())
    label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "preset cpu as shipped"
    return [
        label,
        f"{config['n_params'] / 1e6:.2f}M",
        done.iter,
        f"{evals[-1].tokens_per_s / 1e3:.1f}k",
        f"{1 - t_train / done.elapsed_s:.1%}",
        f"{evals[-1].val.loss:.4f}",
        f"{score['loss']:.4f}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=300.0)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    variants = SWEEP if args.sweep else [dict(kv.split("=", 1) for kv in args.set)]
    headers = [
        "variant",
        "params",
        "iters",
        "tok/s",
        "not training",
        "val (eval batches)",
        "val (full split)",
    ]
    rows = []
    print(f"machine: {machine()}\ncorpus {corpus()}, budget {args.budget:g}s", flush=True)
    for v in variants:
        with tempfile.TemporaryDirectory() as d:
            rows.append(run(v, args.budget, Path(d)))
        print(" | ".join(map(str, rows[-1])), flush=True)
    print(table(headers, rows))


if __name__ == "__main__":
    main()
