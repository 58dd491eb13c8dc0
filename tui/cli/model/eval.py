"""`charlm-tui eval`: a checkpoint scored on every position of a split."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from rich.console import Console

from charlm_tui.core.config import DeviceOption
from charlm_tui.core.options import option
from charlm_tui.core.runs.scores import ScoreOptions
from charlm_tui.tui.cli.common import CheckpointArg, declared


@dataclass(frozen=True)
class EvalOutput:
    json: bool = option(False, "Print one JSON object.", "output")


@declared(ScoreOptions)
@declared(DeviceOption, into="on")
@declared(EvalOutput, into="output")
def eval_(
    checkpoint: CheckpointArg, options: ScoreOptions, on: DeviceOption, output: EvalOutput
) -> None:
    """Score a checkpoint on EVERY position of a split: loss, bits/char, top@1, top@5."""
    from rich.progress import Progress

    from charlm_tui.core.runs.rundir import checkpoint_path
    from charlm_tui.core.runs.scores import evaluate_checkpoint

    err = Console(stderr=True)
    t = time.perf_counter()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(f"eval {options.split}", total=None)
        metrics, ckpt, spec = evaluate_checkpoint(
            checkpoint_path(checkpoint),
            options,
            on.device,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    seconds = time.perf_counter() - t
    result = {
        "checkpoint": str(checkpoint),
        "data": spec,
        "split": options.split,
        "iter": ckpt["iter"],
        "positions": metrics.n_tokens,
        "loss": metrics.loss,
        "bpc": metrics.bpc,
        "top1": metrics.top1,
        "top5": metrics.top5,
        "seconds": seconds,
    }
    if output.json:
        print(json.dumps(result))
        return
    print(
        f"{options.split} of {spec!r}, {metrics.n_tokens:,} positions: loss {metrics.loss:.4f} "
        f"| bits/char {metrics.bpc:.4f} | top@1 {metrics.top1:.2%} | top@5 {metrics.top5:.2%} "
        f"| {seconds:.1f}s"
    )
