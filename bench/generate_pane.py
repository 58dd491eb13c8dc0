"""The generate pane's streaming rate against headless generation, timed in turns.

    python bench/generate_pane.py [--preset cpu] [--chars 2000] [--rounds 3]

Both decode the same checkpoint (random weights of the preset's shape: speed does not
depend on training) with the same sampler and weights (int8 on CPU). Headless is the
`sample --no-ui` loop; the pane is the Textual app driven by Pilot, headless too but
laying out and rendering every flush as it does in a terminal. Target: the pane
streams at >= 80% of the headless rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import machine, table

from charlm_tui.core.config import build_configs, replace, to_dict
from charlm_tui.core.decoding.options import GenerateOptions, SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.models import build_model
from charlm_tui.core.models.checkpoint import FORMAT, load_model, save_checkpoint
from charlm_tui.core.models.quant import decoder_for
from charlm_tui.core.training.state import TrainState

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def checkpoint(preset: str, where: Path) -> Path:
    chars = "".join(sorted(set("\nabcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?'-")))
    mcfg, tcfg = build_configs(preset)
    mcfg = replace(mcfg, vocab_size=len(chars))
    torch.manual_seed(0)
    model = build_model(mcfg)
    state = TrainState.new(tcfg.seed)
    path = where / "best.pt"
    ckpt = {"format": FORMAT, "model": model.state_dict(), "config": to_dict(mcfg, tcfg)}
    save_checkpoint({**ckpt, "vocab": chars, **state.checkpoint(0.0)}, path)
    return path


def headless(path: Path, chars: int) -> float:
    model, vocab, _ = load_model(path)
    decoder = decoder_for(model, "auto")
    out = []
    g = torch.Generator().manual_seed(1337)
    t = time.perf_counter()
    for tok in generate(model, vocab.encode("\n"), chars, SamplingParams(), g, decoder=decoder):
        out.append(vocab.chars[tok])  # what `sample --no-ui` does with each character
    return chars / (time.perf_counter() - t)


def pane(path: Path, chars: int) -> float:
    from charlm_tui.tui.app import CharLMApp
    from charlm_tui.tui.screens.generate import GenerateScreen

    rate = {}

    async def go() -> None:
        app = CharLMApp(generate=(path, GenerateOptions(max_new_tokens=chars)))
        async with app.run_test(size=(120, 36)) as pilot:
            while not isinstance(app.screen, GenerateScreen):
                await pilot.pause(0.05)
            screen = app.screen

            async def one() -> float:
                t = time.perf_counter()
                await pilot.press("enter")
                await pilot.pause(0.2)
                while screen.running:
                    await pilot.pause(0.05)
                return len(screen.output.generated) / (time.perf_counter() - t)

            # The first generation also waits for the decoder process to start (import
            # torch, load the weights: ~2 s, while a user would be typing): not timed.
            await one()
            rate["chars/s"] = await one()

    asyncio.run(go())
    return rate["chars/s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--chars", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = checkpoint(args.preset, Path(d))
        headless(path, 200)  # warm-up
        rows, ratios = [], []
        for r in range(args.rounds):
            h, p = headless(path, args.chars), pane(path, args.chars)
            ratios.append(p / h)
            rows.append([r + 1, f"{h:,.0f}", f"{p:,.0f}", f"{p / h:.2f}"])
    print(f"machine: {machine()}")
    print(f"preset {args.preset}, {args.chars} characters, in turns")
    print(table(["round", "headless chars/s", "pane chars/s", "pane / headless"], rows))
    print(f"median ratio: {statistics.median(ratios):.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
