"""`charlm-tui train`: train a model, on the dashboard or headless.

Its model and training options are the run configuration's declarations
(core/config.py `SPECS`), each defaulting to the preset's value; where the run goes is
`Placement`'s (core/training/plan.py).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import typer
from rich.markup import escape

from charlm_tui.core.config import PRESETS, SPECS, preset_values
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.experiments.sweep import Replicas
from charlm_tui.core.options import Spec
from charlm_tui.core.runs.labels import Labels
from charlm_tui.core.training.plan import Placement, RunPlan, Start
from charlm_tui.tui.cli.common import INVOKED, declared, launch, show, wants_dashboard

# The preset first; the rest in the order they are declared.
OPTIONS = {s.name: s for s in sorted(SPECS.values(), key=lambda s: s.name != "preset")}


def help_with_presets(spec: Spec) -> str:
    """The declaration's help and its default: one value, or each preset's."""
    if spec.name == "preset":
        return f"{escape(spec.help)} [dim]\\[default: cpu][/dim]"
    base = show(spec.default)  # the base is the default preset, cpu
    others = [f"{p} {v}" for p in PRESETS if (v := show(preset_values(p)[spec.name])) != base]
    presets = f"; presets: {', '.join(others)}" if others else ""
    return f"{escape(spec.help)} [dim]\\[default: {escape(base + presets)}][/dim]"


@declared(OPTIONS, into="given", given_only=True, helps=help_with_presets)
@declared(Start, into="start")
@declared(Placement, into="where")
@declared(Labels, into="labels")
@declared(Replicas, into="reps")
def train(
    ctx: typer.Context,
    given: dict[str, Any],
    start: Start,
    where: Placement,
    labels: Labels,
    reps: Replicas,
) -> None:
    """Train a model: the dashboard shows it learn; with --no-ui, a progress bar, one line
    per eval and the samples it writes.

    Every option left out takes the preset's value (each option below lists them); the
    run goes into checkpoints/<preset>-<model>-<time>/ unless --out or --name says where.

    Examples:

      charlm-tui train --preset tiny

      charlm-tui --no-ui train --data my.txt --preset seed --time-budget 600

      charlm-tui --no-ui train --name myrun --resume --max-iters 5000

      charlm-tui --no-ui train --config myrun.toml --lr 1e-3

      charlm-tui --no-ui train --from checkpoints/myrun --n-layer 4 --name deeper

      charlm-tui --no-ui train --preset tiny --max-iters 500 --seeds 3 --name tiny3
    """
    from charlm_tui.core.training import distributed
    from charlm_tui.core.training.plan import check_corpus, plan_from

    if reps.seeds > 1:
        train_group(ctx, given, start, where, labels, reps)
        return
    if reps.jobs > 1:
        raise CharLMError("--jobs trains the replicas of --seeds N at once: give --seeds too")

    plan = plan_from(given, where, start, labels)
    plan = dataclasses.replace(plan, command=("charlm-tui", *INVOKED))
    if plan.tcfg.tensorboard:
        from charlm_tui.core.interop.tensorboard import require

        require()  # one line saying how to install it, before anything is written
    corpus = check_corpus(plan)
    dist = distributed.from_env()
    if dist.world_size == 1 and wants_dashboard(ctx):
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp(train=plan))
        return
    from charlm_tui.core.training.trainer import execute

    done = execute(plan, dist, corpus, sinks=headless_sinks(plan) if dist.is_main else [])
    if done.message:
        print(f"charlm-tui: {done.message}", file=sys.stderr)
    raise typer.Exit(done.exit_code)


def train_group(
    ctx: typer.Context,
    given: dict[str, Any],
    start: Start,
    where: Placement,
    labels: Labels,
    reps: Replicas,
) -> None:
    """`--seeds N`: N replicas into one group folder, trained as a ladder's rungs are."""
    from charlm_tui.core.experiments.ladder import plan_group
    from charlm_tui.tui.cli.training.ladder import train_folder

    group = plan_group(given, where, start, labels, reps)
    if (group.base or {}).get("tensorboard"):  # the flag, a --config file or --from
        from charlm_tui.core.interop.tensorboard import require

        require()
    train_folder(ctx, dataclasses.replace(group, command=("charlm-tui", *INVOKED)), reps)


def headless_sinks(plan: RunPlan) -> list[Any]:
    """What a headless training prints and (with --tensorboard) writes besides its run."""
    from charlm_tui.tui.console import ConsolePrinter

    sinks: list[Any] = [ConsolePrinter()]
    if plan.tcfg.tensorboard:
        from charlm_tui.core.interop.tensorboard import TensorBoardSink

        sinks.append(TensorBoardSink(plan.run_dir))
    return sinks


def plan_of(argv: list[str]) -> RunPlan:
    """The run `charlm-tui train ARGV` would train, checked, without training it (tests,
    benchmarks); CharLMError or a usage error when it cannot be."""
    import typer.main

    from charlm_tui.core.options import build, specs
    from charlm_tui.core.training.plan import plan_from
    from charlm_tui.tui.cli import app

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    params = command.make_context("train", list(argv)).params
    given = {k: v for k, v in params.items() if k in OPTIONS and v is not None}

    def of(cls: type) -> Any:
        chosen = {k: v for k, v in params.items() if k in specs(cls) and v is not None}
        return build(cls, {k: tuple(v) if isinstance(v, list) else v for k, v in chosen.items()})

    return plan_from(given, of(Placement), of(Start), of(Labels))
