"""What inspecting a text costs next to `eval` on the same characters (target: <= 3x).

    python bench/inspect_speed.py [--preset cpu] [--chars 2000] [--rounds 5] [--threads 1]

Both score every character in eval's windows of block_size, batched alike (32 windows
per forward). `eval` (core.decoding.evaluate.evaluate_split) keeps the loss and top-1/top-5
counts; `inspect` (core.decoding.inspect.inspect_text) keeps each character's loss, probability,
rank and top five, and with internals every window's attention weights (GPT: computed
beside SDPA in the same forward) or state changes (recurrent). The two are timed in
turns, A B A B, so a busy shared machine slows both alike; the ratio is of medians.
Random weights: the cost does not depend on training.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from common import corpus, machine, table

from charlm_tui.core.config import build_configs, replace
from charlm_tui.core.decoding.evaluate import evaluate_split
from charlm_tui.core.decoding.inspect import inspect_text
from charlm_tui.core.models import build_model, count_params
from charlm_tui.core.text.corpus import load_corpus
from charlm_tui.core.text.vocab import Vocab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--model", default=None, help="override the preset's model (e.g. lstm)")
    ap.add_argument("--chars", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    text = load_corpus(corpus()).text[: args.chars]
    vocab = Vocab.from_text(text)
    over = {"model": args.model} if args.model else {}
    mcfg, _ = build_configs(args.preset, over)
    mcfg = replace(mcfg, vocab_size=len(vocab))
    torch.manual_seed(0)
    model = build_model(mcfg).eval()
    ids = np.asarray(vocab.encode(text), dtype=np.int64)
    block = mcfg.block_size

    runs = {
        "eval": lambda: evaluate_split(model, ids, block),
        "inspect": lambda: inspect_text(model, vocab, text, block),
        "inspect + internals": lambda: inspect_text(model, vocab, text, block, internals=True),
    }
    for fn in runs.values():  # warm-up: allocator, kernels, lazy imports
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():  # in turns
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    base = statistics.median(times["eval"])
    rows = [
        [
            name,
            f"{statistics.median(ts) * 1e3:.1f}",
            f"{min(ts) * 1e3:.1f}",
            f"{statistics.median(ts) / base:.2f}x",
        ]
        for name, ts in times.items()
    ]
    print(
        f"{args.chars:,} characters, {mcfg.model} {args.preset} "
        f"({count_params(model):,} params, block {block}), {args.rounds} rounds in turns; "
        f"{machine()}"
    )
    print(table(["what", "median ms", "min ms", "vs eval"], rows))


if __name__ == "__main__":
    main()
