"""Shakespeare-char speedrun on a CUDA GPU: training seconds to full-split val <= 1.47.

    python bench/gpu_speedrun.py --data PATH/tinyshakespeare.txt      # needs a CUDA GPU
    python bench/gpu_speedrun.py --data ... --ours-args="--preset gpu --compile"
    python bench/gpu_speedrun.py --cpu-smoke [--data PATH]             # the plumbing, on CPU

Side A, a nanoGPT-style baseline (bench/_nanogpt.py) with nanoGPT's shakespeare_char
recipe: 6 layers x 6 heads x 384, block 256, batch 64, dropout 0.2, AdamW lr 1e-3,
betas (0.9, 0.99), weight decay 0.1 on 2-d parameters, warmup 100 then cosine to 1e-4
over --max-iters (5,000), grad clip 1, TF32 on, bf16 autocast, torch.compile, fused
AdamW, pinned non-blocking batches.
Side B, ours: the real CLI, `charlm-tui --no-ui train OURS_ARGS --eval-interval N`, run
in-process with one extra sink on the trainer.
Both sides check the FULL validation split (core.decoding.evaluate.evaluate_split: every
character once, fp32, the uncompiled module in eval mode) every --check-every (250)
iterations and stop at the first check <= --target (1.47); A also stops at --max-iters,
B where its own options end the run. Checks, evals and checkpoints are not training time.

"compile s" is torch.compile plus CUDA warm-up: for A, the first step's time over the
mean of steps 2-11; for B, whose trainer reads the GPU back only every --log-interval
steps, the first such chunk of steps over the median chunk's per-step time (plus any
later chunk over 5x the median: recompiles). "train s" is the training time to the
target without it, "total s" with it. Ratios are A's / B's: above 1 means we are
faster. "sooner to A's best val" compares total seconds (compile included) to A's
lowest check, defined even when A misses the target. Each side runs in its own process
with an empty inductor cache.

Self-contained on the GPU machine: torch, numpy, typer and rich; no textual, no network.
Where its typer is not 0.29, carry typer 0.29.2 and pydantic (which typer 0.29 needs
to parse options) as wheels on PYTHONPATH (BENCHMARKS.md, the H200 section).
Repeat --ours-args for several B sides; --save writes every finished side's result.
The corpus must be in the working tree (--data); the built-in corpora are not used.
--cpu-smoke runs both sides for a few dozen iterations at a tiny shape on CPU (one
thread, no compile, no bf16, a loose target) to test the script anywhere; its numbers
mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from _nanogpt import GPT, GPTConfig, adamw, batch, encode, lr_at
from common import ROOT, SHARED, machine, table

HERE = Path(__file__).resolve()

# nanoGPT's config/train_shakespeare_char.py
RECIPE: dict[str, Any] = dict(
    n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, dropout=0.2, warmup=100
)
SMOKE: dict[str, Any] = dict(  # the tiny preset's shape
    n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=16, dropout=0.2, warmup=10
)
LR, MIN_LR, BETAS, WEIGHT_DECAY, CLIP = 1e-3, 1e-4, (0.9, 0.99), 0.1, 1.0
OURS_ARGS = "--preset gpu"
# One thread: a tiny model gains nothing from two, and two collapse on a busy shared CPU.
SMOKE_OURS_ARGS = "--preset tiny --device cpu --threads 1 --max-iters 40 --sample-interval 0"
SMOKE_ITERS, SMOKE_CHECK, SMOKE_TARGET = 40, 20, 3.35
RECOMPILE = 5.0  # a later step this many times the median counts as compiling


def default_data() -> Path | None:
    for path in (SHARED, ROOT / "shared" / "data" / "tinyshakespeare.txt"):
        if path.is_file():
            return path
    return None


def full_split(model: nn.Module, val: Any, block_size: int, device: torch.device) -> float:
    from charlm_tui.core.decoding.evaluate import evaluate_split

    return evaluate_split(model, val, block_size, 128 if device.type == "cuda" else 32, device).loss


# -- side A: the nanoGPT-style baseline ------------------------------------------------------


def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    from charlm_tui.core.text.corpus import load_corpus, split_point

    shape = SMOKE if args.cpu_smoke else RECIPE
    cuda = not args.cpu_smoke
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:  # as nanoGPT's train.py
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(1)  # as SMOKE_OURS_ARGS
    chars, ids = encode(load_corpus(str(args.data)).text)
    cut = split_point(len(ids), 0.1)
    train, val = ids[:cut], ids[cut:]
    torch.manual_seed(1337)
    block, bs = shape["block_size"], shape["batch_size"]
    cfg = GPTConfig(
        vocab_size=len(chars),
        block_size=block,
        n_layer=shape["n_layer"],
        n_head=shape["n_head"],
        n_embd=shape["n_embd"],
        dropout=shape["dropout"],
    )
    model = GPT(cfg).to(device)
    opt = adamw(model, LR, WEIGHT_DECAY, BETAS, fused=cuda)
    step_model: nn.Module = torch.compile(model) if cuda else model
    use_bf16 = cuda and torch.cuda.is_bf16_supported()
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
    )
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    g = torch.Generator().manual_seed(1337)
    max_iters, warmup = args.max_iters, min(shape["warmup"], args.max_iters // 4)
    checks: list[dict[str, float]] = []
    trained = 0.0  # synchronized training seconds, checks excluded
    first = steady = None
    notes: list[str] = []
    sync()
    t = time.perf_counter()
    for it in range(max_iters):
        for group in opt.param_groups:
            group["lr"] = lr_at(it, LR, MIN_LR, warmup, max_iters)
        x, y = batch(train, block, bs, g, device)
        try:
            with autocast:
                _, loss = step_model(x, y)
        except Exception as e:  # no working compiler: say so, train eager
            if step_model is model:
                raise
            notes.append(f"baseline torch.compile failed, eager instead: {str(e)[:120]}")
            step_model = model
            with autocast:
                _, loss = step_model(x, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        n = it + 1
        check = n % args.check_every == 0 or n == max_iters
        if n in (1, 11) or check:
            sync()
            trained += time.perf_counter() - t
            if n == 1:
                first = trained
            if n == 11:
                steady = (trained - first) / 10
            if check:
                loss_val = full_split(model, val, block, device)
                checks.append({"iter": n, "steps_s": trained, "val": loss_val})
                print(f"baseline: iter {n}, {trained:.1f} s training, val {loss_val:.4f}")
                if loss_val <= args.target:
                    break
            t = time.perf_counter()
    iters = checks[-1]["iter"]
    if steady is None:  # fewer than 11 steps
        steady = (trained - first) / (iters - 1) if iters > 1 else first
    compile_s = max(0.0, first - steady)
    return result("nanoGPT-style (A)", checks, compile_s, args.target, notes)


# -- side B: ours, through the CLI ------------------------------------------------------------


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    from charlm_tui.core.runs.events import EvalEvent, StepEvent
    from charlm_tui.core.training.distributed import DistInfo
    from charlm_tui.core.training.trainer import Trainer, execute
    from charlm_tui.tui.cli.training.train import plan_of
    from charlm_tui.tui.console import ConsolePrinter

    # Step records come every --log-interval steps on a GPU (the loss is read back only
    # then), each with the mean step time since the last: (steps, mean seconds) pairs.
    chunks: list[tuple[int, float]] = []
    last_iter = 0
    trained = 0.0  # training seconds, from the trainer's own accounting at each eval
    checks: list[dict[str, float]] = []

    class FullSplitCheck:
        """A sink: at each of the trainer's evals, score the full val split; stop at target."""

        def __init__(self, trainer: Trainer, steering: Any) -> None:
            self.trainer, self.steering = trainer, steering

        def handle(self, event: object) -> None:
            nonlocal last_iter, trained
            if isinstance(event, StepEvent):
                chunks.append((event.iter - last_iter, event.dt_s))
                last_iter = event.iter
            elif isinstance(event, EvalEvent) and event.iter > 0:
                last_iter = event.iter
                trained += event.t_train_s
                if checks and checks[-1]["iter"] == event.iter:
                    return
                tr = self.trainer
                val = full_split(tr.model, tr.dataset.val, tr.mcfg.block_size, tr.device)
                checks.append({"iter": event.iter, "steps_s": trained, "val": val})
                print(f"ours: iter {event.iter}, {trained:.1f} s training, val {val:.4f}")
                if val <= args.target:
                    self.steering.request_stop()

        def close(self) -> None:
            pass

    with tempfile.TemporaryDirectory() as d:
        # Checks every --check-every steps on both sides: no early evals by time, and no
        # samples (not training time either, but device time this script should not spend).
        # Its own evals are not the yardstick (the full-split check is): 10 batches.
        fixed = ["--early-eval-s", "0", "--sample-interval", "0", "--eval-iters", "10"]
        argv = [*fixed, *shlex.split(args.ours_args)]
        argv += ["--data", str(args.data), "--eval-interval", str(args.check_every)]
        argv += ["--out", f"{d}/run", "--overwrite"]
        try:
            plan = plan_of(argv)
        except Exception as e:  # a bad option, or a preset this checkout does not have
            raise SystemExit(f"gpu_speedrun: charlm-tui train {shlex.join(argv)}: {e}") from None
        # The trainer counts steps not yet read back from the GPU when an eval comes: its
        # training seconds are exact only at read-backs, so every check must be one.
        tcfg = plan.tcfg
        if tcfg.early_eval_s or args.check_every % tcfg.log_interval:
            raise SystemExit(
                f"gpu_speedrun: --check-every {args.check_every} must be a multiple of our "
                f"--log-interval ({tcfg.log_interval}) and --early-eval-s 0 "
                f"(got {tcfg.early_eval_s:g}): fix --ours-args"
            )
        done = execute(
            plan, DistInfo(), sinks=[ConsolePrinter()], watchers=lambda t, s: [FullSplitCheck(t, s)]
        )
    if done.reason not in ("finished", "stopped"):
        raise SystemExit(f"gpu_speedrun: our run ended {done.reason}: {done.message}")
    if not checks:
        raise SystemExit("gpu_speedrun: our run made no evals after iteration 0: nothing to score")
    compile_s = compile_seconds(chunks)
    notes = ["textual was imported on the headless path"] if "textual" in sys.modules else []
    label = f"charlm-tui {args.ours_args} ({args.label or 'B'})"
    return result(label, checks, compile_s, args.target, notes)


def compile_seconds(chunks: list[tuple[int, float]]) -> float:
    """The first chunk of steps over the steady per-step median (torch.compile and CUDA
    warm-up), plus any later chunk over RECOMPILE x the median (recompiles)."""
    if not chunks:
        return 0.0
    rest = [dt for n, dt in chunks[1:] if n > 0]
    median = statistics.median(rest) if rest else chunks[0][1]
    n0, dt0 = chunks[0]
    slow = sum(n * (dt - median) for n, dt in chunks[1:] if dt > RECOMPILE * median)
    return max(0.0, n0 * (dt0 - median)) + slow


def result(
    label: str, checks: list[dict[str, float]], compile_s: float, target: float, notes: list[str]
) -> dict[str, Any]:
    hit = next((c for c in checks if c["val"] <= target), None)
    end = hit or checks[-1]
    return {
        "side": label,
        "reached": hit is not None,
        "iters": end["iter"],
        "train_s": end["steps_s"] - compile_s,
        "compile_s": compile_s,
        "total_s": end["steps_s"],
        "val": end["val"],
        "checks": checks,
        "notes": notes,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }


# -- the driver ------------------------------------------------------------------------------


def run_side(
    side: str, args: argparse.Namespace, tmp: Path, ours_args: str = "", label: str = "B"
) -> dict[str, Any] | None:
    """One side in its own process, with an empty inductor cache: a cold compile."""
    out = tmp / f"{side}-{label}.json"
    argv = [sys.executable, str(HERE), "--side", side, "--result", str(out)]
    argv += ["--data", str(args.data), "--target", str(args.target)]
    argv += ["--check-every", str(args.check_every), "--max-iters", str(args.max_iters)]
    argv += [f"--ours-args={ours_args}", f"--label={label}"]
    argv += ["--cpu-smoke"] if args.cpu_smoke else []
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp / f"inductor-{side}-{label}")}
    env["PYTHONUNBUFFERED"] = "1"  # progress lines as they come, through a pipe too
    t = time.perf_counter()
    sys.stdout.flush()
    code = subprocess.run(argv, cwd=ROOT, env=env).returncode
    if code != 0 or not out.is_file():
        print(f"gpu_speedrun: the {side} side failed (exit {code})", file=sys.stderr)
        return None
    res = json.loads(out.read_text())
    res["process_s"] = time.perf_counter() - t
    return res


def report(results: list[dict[str, Any]], target: float) -> str:
    base = next((r for r in results if r["side"].endswith("(A)")), None)
    # Also defined when A misses the target: how much sooner each side reaches A's best.
    best = min(base["checks"], key=lambda c: c["val"]) if base else None
    rows = []
    for r in results:
        ratio = to_best = "-"
        if base and base["reached"] and r["reached"]:
            ratio = f"{base['train_s'] / r['train_s']:.2f}x / {base['total_s'] / r['total_s']:.2f}x"
        at = best and next((c for c in r["checks"] if c["val"] <= best["val"]), None)
        if best and at:
            to_best = f"{best['steps_s'] / at['steps_s']:.2f}x ({at['iter']})"
        rows.append(
            [
                r["side"],
                r["iters"] if r["reached"] else f"not reached ({r['iters']})",
                f"{r['train_s']:.1f}",
                f"{r['compile_s']:.1f}",
                f"{r['total_s']:.1f}",
                f"{r['val']:.4f}",
                ratio,
                to_best,
                f"{r['process_s']:.0f}",
            ]
        )
    headers = [
        "side",
        f"iters to {target:g}",
        "train s",
        "compile s",
        "total s",
        "final val (full split)",
        "ratio A/B (train / total)",
        "sooner to A's best val, total s (iters)",
        "process s",
    ]
    return table(headers, rows)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=None, help="tinyshakespeare.txt")
    ap.add_argument("--target", type=float, default=None, help="full-split val (default 1.47)")
    ap.add_argument("--check-every", type=int, default=None, help="iterations (default 250)")
    ap.add_argument("--max-iters", type=int, default=None, help="A's cap and schedule (5000)")
    ap.add_argument(
        "--ours-args",
        action="append",
        help=f'train options (default "{OURS_ARGS}"); repeat it for several B sides',
    )
    ap.add_argument("--save", type=Path, help="write every finished side's result here (JSON)")
    ap.add_argument("--label", help=argparse.SUPPRESS)
    ap.add_argument("--sides", default="baseline,ours", help="which to run, in order")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU: a plumbing test")
    ap.add_argument("--side", choices=("baseline", "ours"), help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    smoke = args.cpu_smoke
    if not smoke and not torch.cuda.is_available():
        print(
            f"gpu_speedrun: no CUDA GPU here (torch {torch.__version__} sees none); "
            "run it on a GPU machine, or test the script with --cpu-smoke",
            file=sys.stderr,
        )
        sys.exit(2)
    if args.target is None:
        args.target = SMOKE_TARGET if smoke else 1.47
    if args.check_every is None:
        args.check_every = SMOKE_CHECK if smoke else 250
    if args.max_iters is None:
        args.max_iters = SMOKE_ITERS if smoke else 5000
    if args.ours_args is None:
        args.ours_args = [SMOKE_OURS_ARGS if smoke else OURS_ARGS]
    args.data = args.data or default_data()
    if args.data is None or not args.data.is_file():
        print(
            f"gpu_speedrun: no corpus at {args.data or SHARED}: pass --data PATH "
            "(a file in the working tree: the GPU machine has no network)",
            file=sys.stderr,
        )
        sys.exit(2)

    if args.side:  # a child: run one side, write its result
        args.ours_args = args.ours_args[0]
        res = run_baseline(args) if args.side == "baseline" else run_ours(args)
        args.result.write_text(json.dumps(res))
        return

    print(f"machine: {machine()}", flush=True)
    if not smoke:
        print(f"GPU: {torch.cuda.get_device_name()}", flush=True)
    runs: list[tuple[str, str, str]] = []  # (side, our options, label)
    for side in (s.strip() for s in args.sides.split(",")):
        if side == "ours":
            many = len(args.ours_args) > 1
            for i, ours in enumerate(args.ours_args, 1):
                runs.append((side, ours, f"B{i}" if many else "B"))
        else:
            runs.append((side, "", "A"))
    results = []
    with tempfile.TemporaryDirectory() as d:
        for side, ours, label in runs:
            res = run_side(side, args, Path(d), ours, label)
            if res is not None:
                results.append(res)
                if args.save:  # after each side: a run cut short keeps what it finished
                    args.save.write_text(json.dumps(results, indent=1))
    if not results:
        sys.exit("gpu_speedrun: no side finished")
    print(
        f"\ncorpus {args.data}; target full-split val <= {args.target:g}, checked every "
        f"{args.check_every} iterations" + (" (CPU SMOKE TEST: not a measurement)" if smoke else "")
    )
    print(report(results, args.target))
    for r in results:
        for note in r["notes"]:
            print(f"note ({r['side']}): {note}")
    failed = len(results) < len(runs)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
