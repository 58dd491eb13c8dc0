"""The model zoo's speed: training throughput and generation, timed in turns.

    python bench/zoo_speed.py [--rounds 3] [--chars 1000]

For each model at its preset's shape (bigram, mlp, rnn, gru, lstm and the gpt of
`cpu`): training tokens/s (forward, backward, clip, optimizer step on random batches)
and generation chars/s for `--chars` characters, first from a one-character prompt and
then after a 3,000-character text, so decoding that re-reads its context (it should
not) shows up as a slower second column. Every model takes its turn in each round, so
a slow spell of a shared machine hits them all.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import machine, table

from charlm_tui.core.config import build_configs, replace
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.models import build_model, count_params
from charlm_tui.core.models.quant import decoder_for
from charlm_tui.core.training.optim import make_optimizer

PRESETS = ("bigram", "mlp", "rnn", "gru", "lstm", "cpu")
VOCAB = 65


def train_rate(model, opt, batch: int, block: int, steps: int) -> float:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, VOCAB, (batch, block), generator=g)
    y = torch.randint(0, VOCAB, (batch, block), generator=g)
    model.train()
    t = time.perf_counter()
    for _ in range(steps):
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return steps * batch * block / (time.perf_counter() - t)


def gen_rate(model, decoder, prompt: list[int], chars: int) -> float:
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    for _ in generate(model, prompt, chars, SamplingParams(temperature=1.0), g, decoder=decoder):
        pass
    return chars / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chars", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.manual_seed(0)
    zoo = []
    for name in PRESETS:
        mcfg, tcfg = build_configs(name)
        model = build_model(replace(mcfg, vocab_size=VOCAB))
        opt = make_optimizer(model, tcfg, torch.device("cpu"))
        zoo.append((name, mcfg, tcfg, model, opt, decoder_for(model, "auto")))
    long_prompt = [i % VOCAB for i in range(3000)]
    rates: dict[str, list[tuple[float, float, float]]] = {z[0]: [] for z in zoo}
    for _ in range(args.rounds):
        for name, mcfg, tcfg, model, opt, dec in zoo:
            tr = train_rate(model, opt, tcfg.batch_size, mcfg.block_size, args.steps)
            short = gen_rate(model, dec, [0], args.chars)
            long = gen_rate(model, dec, long_prompt, args.chars)
            rates[name].append((tr, short, long))
    rows = []
    for name, mcfg, tcfg, model, _, dec in zoo:
        best = [max(r[i] for r in rates[name]) for i in range(3)]
        rows.append(
            [
                f"{name} ({mcfg.model})",
                f"{count_params(model):,}",
                f"{tcfg.batch_size}x{mcfg.block_size}",
                f"{best[0]:,.0f}",
                f"{best[1]:,.0f}",
                f"{best[2]:,.0f}",
                f"{best[2] / best[1]:.2f}",
                "int8" if dec is not None else "fp32",
            ]
        )
    print(f"machine: {machine()}")
    print(f"best of {args.rounds} rounds in turns; {args.chars} characters generated")
    print(
        table(
            [
                "preset (model)",
                "params",
                "batch x block",
                "train tok/s",
                "gen chars/s",
                "gen after 3,000 chars",
                "ratio",
                "weights",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
