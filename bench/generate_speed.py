"""Characters per second of generation: KV cache vs full-context regeneration.

    python bench/generate_speed.py [--preset seed] [--chars 1000] [--repeats 3]

The baseline is the nanoGPT `generate` approach: for every new character, run the
model over the whole (cropped) context and keep the last position's logits. Ours:
a KV cache, one position per character, the head on the last position only,
inference_mode; then the same with int8 weight-only one-position steps (the prompt
and window refills stay fp32). Same model (random weights: speed does not depend on
training). --compile adds a row for the int8 step under torch.compile (dynamic shapes,
C++ wrapper), an experiment the product does not ship (BENCHMARKS.md says why).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import machine, table

from charlm_tui.core.config import build_configs, replace
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.models import build_model
from charlm_tui.core.models.compiled import compiled_decoder
from charlm_tui.core.models.quant import int8_available, quantize_int8


@torch.no_grad()
def full_context(model, idx: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """Regenerate from scratch each step, as nanoGPT's generate does."""
    block = model.config.block_size
    for _ in range(n):
        logits, _ = model(idx[:, -block:])
        probs = F.softmax(logits[:, -1, :], dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=g)), dim=1)
    return idx


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="seed")
    ap.add_argument("--chars", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="leave out the compiled step")
    args = ap.parse_args()
    mcfg, _ = build_configs(args.preset)
    model = build_model(replace(mcfg, vocab_size=65)).eval()
    prompt = [0]
    params = SamplingParams(temperature=1.0)

    int8 = quantize_int8(model) if int8_available() else None

    def ours(decoder=None) -> None:
        g = torch.Generator().manual_seed(0)
        for _ in generate(model, prompt, args.chars, params, g, decoder=decoder):
            pass

    def baseline() -> None:
        full_context(model, torch.tensor([prompt]), args.chars, torch.Generator().manual_seed(0))

    methods = [("full-context regeneration (nanoGPT)", baseline), ("KV cache, fp32", ours)]
    if int8 is not None:
        methods.append(("KV cache, int8 weights", lambda: ours(int8)))
    if not args.no_compile and int8 is not None:
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            compiled = compiled_decoder(model, int8, "int8", Path(folder))
            print(
                f"built the compiled int8 step in {time.perf_counter() - t:.1f} s (once per shape)"
            )
        methods.append(("KV cache, int8, compiled step (sample --compile)", lambda: ours(compiled)))
    for _, fn in methods[1:]:
        fn()  # warm-up
    # In turns, round after round, so a slow spell of this shared VM hits every method.
    rounds = [[timed(fn) for _, fn in methods] for _ in range(args.repeats)]
    best = [min(times) for times in zip(*rounds, strict=True)]
    rows = [
        [label, f"{args.chars / t:,.0f}", f"{best[0] / t:.1f}x"]
        for (label, _), t in zip(methods, best, strict=True)
    ]
    print(f"machine: {machine()}")
    print(
        f"preset {args.preset} ({sum(p.numel() for p in model.parameters()):,} params, "
        f"block {mcfg.block_size}), {args.chars} new characters, best of {args.repeats}"
    )
    print(table(["method", "chars/s", "speed-up"], rows))


if __name__ == "__main__":
    main()
