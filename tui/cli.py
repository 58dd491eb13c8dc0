"""`charlm-tui`: train, sample, evaluate and browse character-level language models.

Errors the user can fix print one line on stderr and exit with code 2; Ctrl-C exits
with 130 after saving what it can. `train`'s options are not written here: they are
generated from the run configuration's declarations (core/config.py `SPECS`).
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import typer.core
from rich.console import Console
from rich.table import Table
from rich.text import Text

from charlm_tui.core.config import PRESETS, RESUMABLE, SPECS, Spec, cli_specs, flag, preset_values
from charlm_tui.core.errors import CharLMError

app = typer.Typer(
    name="charlm-tui",
    help=(
        "Train character-level language models and play with them in the terminal.\n\n"
        "Start with:  charlm-tui --no-ui train --preset tiny   (seconds)\n\n"
        "then:        charlm-tui runs   and   charlm-tui --no-ui sample checkpoints/<run>"
    ),
    add_completion=False,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)

PANELS = {
    "model": "Model",
    "optimisation": "Optimisation",
    "schedule": "Schedule (one length: --max-iters or --time-budget)",
    "evaluation": "Evaluation and samples",
    "data": "Data",
    "system": "System",
}
RUN = "Run directory"
EXIT_INTERRUPTED = 130
Device = Annotated[
    str, typer.Option(help="auto, cpu, cuda, cuda:N or mps (auto: a GPU if there is one).")
]


# typer 0.29 prints a type after every option, `<bool>` even after flags that take no
# value (`--no-ui <bool>`): say nothing for flags. And it writes a required argument as
# `{CHECKPOINT}` in the usage line, then `CHECKPOINT <path>` in its table: write
# `CHECKPOINT` (click's and most tools' way), and let a named argument's metavar stand
# for its type. Cosmetic, so only where these hooks exist (pyproject pins 0.29; the GPU
# machine's own typer is another version, and bench/gpu_speedrun.py runs the CLI there).
def _patch_typer_help() -> None:
    option, argument = typer.core.TyperOption, typer.core.TyperArgument
    hooks = ((option, "display_type_rich"), (argument, "display_type_rich"))
    also = ((argument, "_usage_display_name"), (argument, "display_name_raw"))
    if not all(hasattr(c, h) for c, h in (*hooks, *also)):
        return
    option_type, argument_type = option.display_type_rich, argument.display_type_rich

    def flag_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else option_type(self, ctx)

    def argument_usage(self: typer.core.TyperArgument) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def argument_type_or_metavar(self: typer.core.TyperArgument, ctx: Any) -> str | None:
        return None if self.metavar is not None else argument_type(self, ctx)

    option.display_type_rich = flag_type  # type: ignore[method-assign]
    argument._usage_display_name = argument_usage  # type: ignore[method-assign]
    argument.display_type_rich = argument_type_or_metavar  # type: ignore[method-assign]


_patch_typer_help()


@app.callback()
def main_options(
    ctx: typer.Context,
    no_ui: Annotated[
        bool, typer.Option("--no-ui", help="Headless: print to the terminal, no dashboard.")
    ] = False,
) -> None:
    ctx.obj = {"no_ui": no_ui}
    if ctx.invoked_subcommand is None:
        if no_ui:
            print(ctx.get_help())
            return
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp())


def no_ui(ctx: typer.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("no_ui"))


def has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def launch(tui_app: Any) -> None:
    """Run a CharLMApp (imported lazily: the headless path never loads textual)."""
    if not has_terminal():
        raise CharLMError("the dashboard needs a terminal: run this in one, or add --no-ui")
    code = tui_app.run()
    if isinstance(code, int) and code:
        raise typer.Exit(code)


# -- train ----------------------------------------------------------------------------------


def _help(spec: Spec) -> str:
    """The declaration's help and its default: one value, or each preset's."""
    if spec.name == "preset":
        return f"{spec.help} [dim]\\[default: cpu][/dim]"
    base = _show(spec.default)  # the base is the default preset, cpu
    others = [f"{p} {v}" for p in PRESETS if (v := _show(preset_values(p)[spec.name])) != base]
    presets = f"; presets: {', '.join(others)}" if others else ""
    return f"{spec.help} [dim]\\[default: {base}{presets}][/dim]"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _train_option(spec: Spec) -> inspect.Parameter:
    base = spec.base
    decls = (f"{spec.flag}/--no-{spec.flag[2:]}",) if base is bool else ()
    info = typer.Option(
        *decls,
        help=_help(spec),
        rich_help_panel=PANELS[spec.group],
        show_default=False,
        metavar="SECONDS" if spec.name == "time_budget" else None,
    )
    return inspect.Parameter(
        spec.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[base | None, info],
    )


RUN_OPTIONS: dict[str, tuple[Any, Any]] = {
    "out": (
        Annotated[
            Path | None,
            typer.Option(help="Run directory (default: checkpoints/<name>).", rich_help_panel=RUN),
        ],
        None,
    ),
    "name": (
        Annotated[
            str | None,
            typer.Option(
                help="Run name under checkpoints/ (default: <preset>-<model>-<time>).",
                rich_help_panel=RUN,
            ),
        ],
        None,
    ),
    "resume": (
        Annotated[
            bool,
            typer.Option(
                "--resume",
                help="Continue the run in --out / --name; only the resumable options may "
                "change: " + ", ".join(flag(n) for n in sorted(RESUMABLE)) + ".",
                rich_help_panel=RUN,
            ),
        ],
        False,
    ),
    "resume_from": (
        Annotated[
            Literal["last", "best"],
            typer.Option(help="Resume from its last or best checkpoint.", rich_help_panel=RUN),
        ],
        "last",
    ),
    "allow_data_change": (
        Annotated[
            bool,
            typer.Option(
                "--allow-data-change",
                help="With --resume: continue although the corpus changed since the run "
                "trained on it (refused by default).",
                rich_help_panel=RUN,
            ),
        ],
        False,
    ),
    "overwrite": (
        Annotated[
            bool,
            typer.Option(
                "--overwrite", help="Replace the run already in --out.", rich_help_panel=RUN
            ),
        ],
        False,
    ),
}


def plan_from_options(options: dict[str, Any]) -> Any:
    """The run `train` was asked for (core/training/plan.py), from its parsed options."""
    from charlm_tui.core import paths
    from charlm_tui.core.training.plan import plan_new, plan_resume

    overrides = {name: options.get(name) for name in SPECS if name in options}
    preset = overrides.pop("preset", None)
    out, name = options.get("out"), options.get("name")
    if options.get("resume"):
        if options.get("overwrite"):
            raise CharLMError("--resume and --overwrite contradict each other: choose one")
        if out is not None and name is not None:
            raise CharLMError("give --out or --name, not both")
        if out is None and name is None:
            raise CharLMError("--resume needs the run to continue: pass --out DIR or --name NAME")
        if name is not None:
            from charlm_tui.core.training.plan import check_run_name

            out = paths.runs_dir() / check_run_name(name)
        return plan_resume(
            out,
            options.get("resume_from", "last"),
            {**overrides, "preset": preset},
            bool(options.get("allow_data_change")),
        )
    if options.get("allow_data_change"):
        raise CharLMError("--allow-data-change goes with --resume: a new run has no old data")
    return plan_new(preset, overrides, out, name, bool(options.get("overwrite")))


def train(ctx: typer.Context, **options: Any) -> None:
    """Train a model. Prints a progress bar, one line per eval and samples as it learns.

    Examples:

      charlm-tui --no-ui train --preset tiny

      charlm-tui --no-ui train --data my.txt --preset seed --time-budget 600

      charlm-tui --no-ui train --name myrun --resume --max-iters 5000
    """
    from charlm_tui.core.training import distributed
    from charlm_tui.core.training.plan import check_corpus

    plan = plan_from_options(options)
    if plan.tcfg.tensorboard:
        from charlm_tui.core.runs.tensorboard import require

        require()  # one line saying how to install it, before anything is written
    corpus = check_corpus(plan)
    dist = distributed.from_env()
    dashboard = not no_ui(ctx) and dist.world_size == 1
    if dashboard and not has_terminal():
        print("charlm-tui: no terminal for the dashboard: training headless", file=sys.stderr)
        dashboard = False
    if dashboard:
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp(train=plan))
        return
    from charlm_tui.core.training.trainer import execute

    done = execute(plan, dist, corpus, sinks=headless_sinks(plan) if dist.is_main else [])
    if done.message:
        print(f"charlm-tui: {done.message}", file=sys.stderr)
    raise typer.Exit(done.exit_code)


def headless_sinks(plan: Any) -> list[Any]:
    """What a headless training prints and (with --tensorboard) writes besides its run."""
    from charlm_tui.tui.console import ConsolePrinter

    sinks: list[Any] = [ConsolePrinter()]
    if plan.tcfg.tensorboard:
        from charlm_tui.core.runs.tensorboard import TensorBoardSink

        sinks.append(TensorBoardSink(plan.run_dir))
    return sinks


train.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *map(_train_option, sorted(cli_specs(), key=lambda s: s.name != "preset")),
        *(
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
            for n, (a, d) in RUN_OPTIONS.items()
        ),
    ]
)
app.command()(train)


# -- sample ---------------------------------------------------------------------------------


CheckpointArg = Annotated[
    Path,
    typer.Argument(
        help="A .pt file, or a run directory (its best.pt, else last.pt).", metavar="CHECKPOINT"
    ),
]


@app.command()
def sample(
    ctx: typer.Context,
    checkpoint: CheckpointArg,
    prompt: Annotated[str, typer.Option(help="Text to continue (default: a newline).")] = "",
    max_new_tokens: Annotated[int, typer.Option(help="Characters to generate.")] = 500,
    temperature: Annotated[
        float, typer.Option(help="0 is greedy (so is anything under 1e-6); higher is wilder.")
    ] = 0.8,
    top_k: Annotated[int, typer.Option(help="Sample from the k likeliest (0: all).")] = 0,
    top_p: Annotated[float, typer.Option(help="Nucleus: smallest set with this mass.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed and checkpoint, same text.")] = 1337,
    device: Device = "auto",
    precision: Annotated[
        Literal["auto", "fp32", "int8"],
        typer.Option(
            help="Weights for decoding: int8 is ~1.5x faster on CPU and moves val loss by "
            "~1e-4 nats; fp32 is exact. auto: int8 for gpt on CPU."
        ),
    ] = "auto",
    compile: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="Decode a gpt with its one-character step compiled ahead of time "
            "(AOTInductor; needs a C++ compiler): ~1.5x faster on CPU. The first use of a "
            "model shape compiles for ~15-25 s; later ones load it from data/decoders.",
        ),
    ] = False,
) -> None:
    """Generate text from a checkpoint, streamed character by character.

    Opens the generate pane; with --no-ui, streams to stdout instead (exactly the text:
    pipe it to a file).
    """
    import torch

    from charlm_tui.core.decoding.sampling import (
        GenerateOptions,
        SamplingParams,
        default_context,
        generate,
    )
    from charlm_tui.core.device import resolve_device
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.models.compiled import make_decoder
    from charlm_tui.core.runs.rundir import checkpoint_path
    from charlm_tui.core.text.display import visible

    options = GenerateOptions(
        prompt, max_new_tokens, SamplingParams(temperature, top_k, top_p), seed, precision, compile
    )
    options.validate()
    dev = resolve_device(device)
    path = checkpoint_path(checkpoint)
    model, vocab, _ = load_model(path)
    if not no_ui(ctx):
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp(generate=(path, options)))
        return
    model.to(dev)
    decoder = make_decoder(
        model,
        precision,
        compile,
        dev.type,
        note=lambda m: print(f"charlm-tui: {m}", file=sys.stderr),
    )
    ids = vocab.encode(prompt or default_context(vocab), "the prompt")
    out = sys.stdout
    # A terminal sees what the model wrote with control characters escaped (they could
    # retitle the window or forge the screen); a pipe or a file gets the exact text.
    show = visible if out.isatty() else str
    out.write(show(prompt))
    try:
        gen = torch.Generator().manual_seed(seed)
        for tok in generate(model, ids, max_new_tokens, options.params, gen, dev, decoder=decoder):
            out.write(show(vocab.chars[tok]))
            out.flush()
    except KeyboardInterrupt:
        out.write("\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    out.write("\n")


def note_stderr(message: str) -> None:
    print(f"charlm-tui: {message}", file=sys.stderr, flush=True)


# -- watch ----------------------------------------------------------------------------------


@app.command()
def watch(
    run_dir: Annotated[
        Path, typer.Argument(help="A run directory, e.g. checkpoints/<run>.", metavar="RUN_DIR")
    ],
) -> None:
    """Open the dashboard on a run another process is writing (or has written).

    Follows metrics.jsonl and samples.jsonl as they grow: start a headless run in one
    terminal (or on a GPU box with a shared folder) and watch it in another.
    """
    from charlm_tui.core.runs.rundir import is_run_dir

    if not run_dir.is_dir():
        raise CharLMError(f"no such run directory: {run_dir}")
    if not is_run_dir(run_dir):
        raise CharLMError(f"{run_dir} is not a run directory (no config.json or metrics.jsonl)")
    from charlm_tui.tui.app import CharLMApp

    launch(CharLMApp(watch=run_dir))


# -- steer ----------------------------------------------------------------------------------

STEER = "Steer"


@app.command()
def steer(
    run_dir: Annotated[
        Path,
        typer.Argument(help="The run directory of a training going on now.", metavar="RUN_DIR"),
    ],
    lr_scale: Annotated[
        float | None,
        typer.Option(
            help="Multiply the learning rate by X from the next step on (the schedule keeps "
            "its shape).",
            metavar="X",
            rich_help_panel=STEER,
        ),
    ] = None,
    eval_interval: Annotated[
        int | None,
        typer.Option(
            help=SPECS["eval_interval"].help + " From the next step.",
            metavar="N",
            rich_help_panel=STEER,
        ),
    ] = None,
    sample_interval: Annotated[
        int | None,
        typer.Option(
            help=SPECS["sample_interval"].help + " From the next step.",
            metavar="N",
            rich_help_panel=STEER,
        ),
    ] = None,
    sample_temperature: Annotated[
        float | None,
        typer.Option(
            help=SPECS["sample_temperature"].help + " From the next step.",
            metavar="T",
            rich_help_panel=STEER,
        ),
    ] = None,
    extend: Annotated[
        float | None,
        typer.Option(
            help="Make the run longer by PERCENT (negative: shorter) of its length.",
            metavar="PERCENT",
            rich_help_panel=STEER,
        ),
    ] = None,
    pause: Annotated[bool, typer.Option("--pause", help="Pause the run.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Resume a paused run.")] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop it (saves last.pt).")] = False,
    save: Annotated[bool, typer.Option("--save", help="Save last.pt now.")] = False,
    sample_now: Annotated[bool, typer.Option("--sample", help="Write a sample now.")] = False,
) -> None:
    """Change a running training from a shell: what the dashboard's keys do.

    The request goes through RUN_DIR/control.json and takes effect at the next step;
    each change is recorded in metrics.jsonl as a steer record and kept by --resume.

    Examples:

      charlm-tui steer checkpoints/myrun --lr-scale 0.5

      charlm-tui steer checkpoints/myrun --extend 20 --sample-temperature 1.0
    """
    from charlm_tui.core.runs.control import read_control, steer_changes, write_control
    from charlm_tui.core.runs.rundir import RunLock, is_run_dir

    if not run_dir.is_dir() or not is_run_dir(run_dir):
        raise CharLMError(f"{run_dir} is not a run directory")
    if not RunLock.held(run_dir):
        raise CharLMError(f"nothing trains in {run_dir} now: there is nothing to steer")
    if pause and resume:
        raise CharLMError("--pause and --resume contradict each other: choose one")
    changes = steer_changes(
        run_dir,
        lr_factor=lr_scale,
        extend_percent=extend,
        eval_interval=eval_interval,
        sample_interval=sample_interval,
        sample_temperature=sample_temperature,
    )
    current = read_control(run_dir)
    requests: dict[str, Any] = dict(changes)
    if pause or resume:
        requests["paused"] = pause
    if stop:
        requests["stop"] = True
    for what, asked in (("save", save), ("sample", sample_now)):
        if asked:
            requests[what] = int(current[what]) + 1
    if not requests:
        raise CharLMError("nothing to change: give an option (see: charlm-tui steer --help)")
    write_control(run_dir, **requests)
    for name, value in requests.items():
        print(f"{name}: {current.get(name)!s} -> {value!s} (from the next step)")


# -- eval -----------------------------------------------------------------------------------


@app.command("eval")
def eval_(
    checkpoint: CheckpointArg,
    data: Annotated[
        str | None, typer.Option(help="Corpus to score (default: the one it was trained on).")
    ] = None,
    split: Annotated[Literal["val", "train"], typer.Option(help="Which split to score.")] = "val",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    batch_size: Annotated[
        int, typer.Option(help="Windows per forward pass.", min=1, max=4096)
    ] = 32,
    encoding_errors: Annotated[
        Literal["strict", "replace"] | None,
        typer.Option(help="Invalid UTF-8: refuse, or U+FFFD (default: as the run read it)."),
    ] = None,
    device: Device = "auto",
) -> None:
    """Score a checkpoint on EVERY position of a split: loss, bits/char, top@1, top@5."""
    from rich.progress import Progress

    from charlm_tui.core.runs.comparison import evaluate_checkpoint
    from charlm_tui.core.runs.rundir import checkpoint_path

    err = Console(stderr=True)
    t = time.perf_counter()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(f"eval {split}", total=None)
        metrics, ckpt, spec = evaluate_checkpoint(
            checkpoint_path(checkpoint),
            data,
            split,
            batch_size,
            device,
            encoding_errors,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    seconds = time.perf_counter() - t
    result = {
        "checkpoint": str(checkpoint),
        "data": spec,
        "split": split,
        "iter": ckpt["iter"],
        "positions": metrics.n_tokens,
        "loss": metrics.loss,
        "bpc": metrics.bpc,
        "top1": metrics.top1,
        "top5": metrics.top5,
        "seconds": seconds,
    }
    if as_json:
        print(json.dumps(result))
        return
    print(
        f"{split} of {spec!r}, {metrics.n_tokens:,} positions: loss {metrics.loss:.4f} "
        f"| bits/char {metrics.bpc:.4f} | top@1 {metrics.top1:.2%} | top@5 {metrics.top5:.2%} "
        f"| {seconds:.1f}s"
    )


# -- inspect --------------------------------------------------------------------------------


@app.command("inspect")
def inspect_(
    ctx: typer.Context,
    checkpoint: CheckpointArg,
    text: Annotated[str | None, typer.Option(help="The text to score.")] = None,
    file: Annotated[
        Path | None, typer.Option(help="A UTF-8 file to score.", metavar="FILE")
    ] = None,
    split: Annotated[
        Literal["val", "train"] | None,
        typer.Option(help="Score a slice of this split of the corpus (default: val)."),
    ] = None,
    start: Annotated[
        int | None, typer.Option(help="First character of the slice (default: 0).")
    ] = None,
    length: Annotated[
        int | None, typer.Option(help="Characters in the slice (default: 2000).")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Corpus of the split (default: the one it was trained on).")
    ] = None,
    format_: Annotated[
        Literal["ansi", "json"],
        typer.Option(
            "--format",
            help="With --no-ui: coloured text (ansi), or one JSON record per character, "
            "then the mean (json).",
        ),
    ] = "ansi",
    device: Device = "auto",
) -> None:
    """Colour a text by the model's surprise at each character; see what it attends to.

    Scored in eval's windows of block_size characters: the mean is eval's loss.

    Opens the inspect screen; with --no-ui, prints the coloured text, or JSON.
    """
    from charlm_tui.core.config import from_dict
    from charlm_tui.core.decoding.inspect import DEFAULT_LENGTH, Source
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.runs.rundir import checkpoint_path

    given = text is not None or file is not None
    if given and any(v is not None for v in (split, start, length, data)):
        raise CharLMError(
            "--split, --start, --length and --data choose a slice of a corpus: "
            "leave them out with --text or --file"
        )
    source = Source(
        text=text,
        file=file,
        split=split or "val",
        start=start if start is not None else 0,
        length=length if length is not None else DEFAULT_LENGTH,
        data=data,
    )
    source.validate()
    checkpoint = checkpoint_path(checkpoint)
    model, vocab, ckpt = load_model(checkpoint)
    mcfg, tcfg = from_dict(ckpt["config"], str(checkpoint))
    chosen = source.read(vocab, tcfg)
    if len(chosen) < 2:
        raise CharLMError(f"{source.describe()} needs at least 2 characters to score")
    if not no_ui(ctx):
        from charlm_tui.tui.app import CharLMApp
        from charlm_tui.tui.messages import OpenInspect

        path = checkpoint if checkpoint.is_file() else _resolved(checkpoint)
        launch(CharLMApp(inspect=OpenInspect(path, source, chosen)))
        return
    from charlm_tui.core.decoding.inspect import inspect_text
    from charlm_tui.core.device import resolve_device

    dev = resolve_device(device)
    model.to(dev)
    result = inspect_text(model, vocab, chosen, mcfg.block_size, device=dev,
                          what=source.describe())  # fmt: skip
    if format_ == "json":
        for n in range(len(result)):
            print(json.dumps(result.record(n)))
        print(json.dumps({**result.summary(), "checkpoint": str(checkpoint),
                          "source": source.describe()}))  # fmt: skip
        return
    print_surprise(result, f"{source.describe()} · {checkpoint}")


def _resolved(checkpoint: Path) -> Path:
    from charlm_tui.core.runs.rundir import resolve_in_run

    return resolve_in_run(checkpoint)


def print_surprise(result: Any, label: str) -> None:
    """The text with each character's background coloured by its loss in bits (ANSI
    colours even in a pipe: that is what --format ansi asks for), every character drawn
    visibly: control characters as escapes, never raw."""
    import math

    from charlm_tui.core.decoding.inspect import SURPRISE, visible_char
    from charlm_tui.core.text.display import visible_line

    console = Console(
        force_terminal=True, color_system="truecolor", soft_wrap=True, highlight=False,
        markup=False, emoji=False,
    )  # fmt: skip
    console.print(
        Text.assemble(
            (f"mean loss {result.mean_loss:.4f} nats · {result.bpc:.3f} bits/char", "bold"),
            f" · {result.n_scored:,} characters scored in windows of {result.block_size} · ",
            visible_line(label),
        )
    )
    legend = Text(f"{SURPRISE.title}: ")
    for name, value in zip(SURPRISE.labels, [0.25, *SURPRISE.edges], strict=True):
        legend.append(f" {name} ", style=SURPRISE.style(value))
    legend.append("  (first character: only context)")
    console.print(legend)
    out = Text()
    for n, ch in enumerate(result.text):
        style = SURPRISE.style(result.loss[n] / math.log(2)) if n else "dim"
        out.append(" " if ch == " " else visible_char(ch), style=style)
        if ch == "\n":
            out.append("\n")
    console.print(out)


# -- runs -----------------------------------------------------------------------------------


NARROW_DROPS = ("model", "params", "checkpoints")  # `runs` on a terminal under 100 columns


def _status_help() -> str:
    from charlm_tui.tui.formatting import STATUS_WORDS

    return "Status words:\n\n" + "\n".join(
        f"  [bold]{word}[/bold]: {meaning}" for word, meaning in STATUS_WORDS.items()
    )


@app.command(epilog=_status_help())
def runs(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Folder of runs, or one run (default: checkpoints/).", metavar="DIR"),
    ] = None,
) -> None:
    """List runs and their checkpoints: model, params, iteration, best val loss, corpus,
    status and age."""

    from charlm_tui.core import paths
    from charlm_tui.core.runs.listing import list_runs
    from charlm_tui.tui.formatting import fit_rows, fmt_age, run_status, visible

    root = directory or paths.runs_dir()
    if directory is None and not root.exists():
        print(f"no runs yet in {root}/: start one with  charlm-tui --no-ui train --preset tiny")
        return
    infos = list_runs(root)
    if not infos:
        print(f"no runs in {root}: start one with  charlm-tui --no-ui train --out {root}/NAME")
        return
    columns = {
        "run": "left", "model": "left", "params": "right", "iter": "right",
        "best val": "right", "corpus": "left", "checkpoints": "left", "status": "left",
        "age": "right",
    }  # fmt: skip
    rows = []
    for i in infos:
        # Names, corpora and errors come from folders anyone may have written: shown
        # escaped (a listing is for people: on a pipe too).
        cells = (
            i.label if i.path != root else str(i.path),  # a ladder's rungs: ladder/rung
            i.model,
            f"{i.n_params:,}" if i.n_params else "-",
            str(i.iter) if i.iter is not None else "-",
            f"{i.best_val_loss:.4f}" if i.best_val_loss is not None else "-",
            i.corpus,
            ",".join(c.removesuffix(".pt") for c in i.checkpoints) or "-",
            run_status(i) + (f": {i.error}" if i.error else ""),
            fmt_age(i.age_s),
        )
        rows.append({col: visible(cell) for col, cell in zip(columns, cells, strict=True)})
    console = Console(highlight=False)
    if console.is_terminal:  # paths and names cut in the middle, never the status or age
        if console.width < 100:  # the model, its size and the checkpoints make way
            columns = {c: j for c, j in columns.items() if c not in NARROW_DROPS}
        shrink = (("corpus", 16), ("run", 16), ("model", 10), ("corpus", 9), ("run", 9))
        rows = fit_rows(rows, console.width, tuple(columns), shrink, padding=3)
    else:  # a pipe gets whole rows, however long
        widths = [max(len(c), *(len(r[c]) for r in rows)) + 3 for c in columns]
        console.width = max(200, sum(widths))
    table = Table(show_edge=False, pad_edge=False)
    for col, justify in columns.items():
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for n, row in enumerate(rows):
        after = infos[n + 1] if n + 1 < len(infos) else None
        table.add_row(
            *(Text(row[c]) for c in columns),  # Text: "[bold]" is not markup
            # a ladder's rungs are one group: a rule above and below it
            end_section=after is not None and after.group != infos[n].group,
        )
    console.print(table)


# -- compare, ladder, export ----------------------------------------------------------------

RunsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Run directories, or folders of runs (a ladder: all its rungs).", metavar="RUN..."
    ),
]


@app.command()
def compare(
    ctx: typer.Context,
    runs: RunsArg,
    fmt: Annotated[
        Literal["table", "markdown", "csv", "json"] | None,
        typer.Option(
            "--format",
            help="Print the table (implies --no-ui): markdown is the experiment log's, ready "
            "to paste; csv and json for scripts. Default: the compare screen.",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(help="Sort by a column: name, params, seconds, val_loss, val_top1, ..."),
    ] = None,
    reverse: Annotated[bool, typer.Option("--reverse", help="Sort in descending order.")] = False,
    baseline: Annotated[
        str | None, typer.Option(help="Show differences from this run (its name or path).")
    ] = None,
    full_eval: Annotated[
        bool,
        typer.Option(
            "--full-eval",
            help="First score each run's best.pt on every position of its val split (as "
            "`eval`; cached in RUN/eval.json). Without it, runs not yet scored show the "
            "training's eval-batch estimate, marked ~.",
        ),
    ] = False,
    device: Device = "auto",
) -> None:
    """Compare runs: loss curves on one chart, and one table of their numbers.

    Examples:

      charlm-tui compare checkpoints/run-a checkpoints/run-b

      charlm-tui --no-ui compare checkpoints/ladder-tinyshakespeare-60s --format markdown
    """
    from charlm_tui.core.runs.comparison import (
        load_runs,
        pick_baseline,
        resolve_runs,
        row_of,
        sort_rows,
        to_csv,
        to_json,
        to_markdown,
        with_baseline,
    )

    paths = resolve_runs(runs)
    if sort is not None:
        sort_rows([], sort)  # an unknown column is refused before anything runs
    records = load_runs(paths)
    base = pick_baseline([row_of(r) for r in records], baseline)
    if fmt is None and not no_ui(ctx) and has_terminal():
        from charlm_tui.tui.app import CharLMApp
        from charlm_tui.tui.messages import OpenCompare

        launch(CharLMApp(compare=OpenCompare(paths, full_eval, base)))
        return
    if full_eval:
        score_runs([r.path for r in records], device)
        for r in records:
            r.update()
    rows = with_baseline([row_of(r) for r in records], base)
    if sort is not None:
        rows = sort_rows(rows, sort, reverse)
    if fmt == "markdown":
        print(to_markdown(rows, base), end="")
    elif fmt == "csv":
        print(to_csv(rows, base), end="")
    elif fmt == "json":
        print(to_json(rows, base), end="")
    else:
        print_compare_table(rows, base)


def score_runs(paths: list[Path], device: str = "auto") -> None:
    """Full-split val scores for the runs that lack one (progress on stderr)."""
    from charlm_tui.core.runs.comparison import full_eval, read_full_eval, scored_checkpoint
    from charlm_tui.core.runs.rundir import RunLock
    from charlm_tui.core.text.display import visible_line

    err = Console(stderr=True, highlight=False)
    for path in paths:
        if read_full_eval(path) is not None or scored_checkpoint(path) is None:
            continue
        if RunLock.held(path):
            err.print(Text(f"{visible_line(path.name)}: still training, not scored"))
            continue
        t = time.perf_counter()
        with err.status(Text(f"scoring {visible_line(path.name)} on its full val split…")):
            result = full_eval(path, device)
        err.print(
            Text(
                f"{visible_line(path.name)}: full val split, {result.positions:,} positions: "
                f"loss {result.loss:.4f} ({time.perf_counter() - t:.1f}s)"
            )
        )


def print_compare_table(rows: list[Any], baseline: str | None) -> None:
    from rich.text import Text

    from charlm_tui.core.runs.comparison import COLUMNS, DELTAS, VAL_NOTE, cell, delta_cell

    table = Table(show_edge=False, pad_edge=False)
    for c in COLUMNS:
        table.add_column(c.title, justify="right" if c.numeric else "left", no_wrap=True)
        if c.key == "val_top5" and baseline is not None:
            for d in DELTAS:
                table.add_column(f"Δ {c.title if d != 'val_loss' else 'val'}", justify="right")
    for r in rows:
        cells = []
        for c in COLUMNS:
            cells.append(Text(cell(r, c.key)))  # Text: a run's name is never markup
            if c.key == "val_top5" and baseline is not None:
                cells += [Text("base" if r.name == baseline else delta_cell(r, d)) for d in DELTAS]
        table.add_row(*cells)
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 240
    console.print(table)
    console.print(Text(VAL_NOTE, style="dim"))


@app.command()
def ladder(
    ctx: typer.Context,
    data: Annotated[
        str, typer.Option(help="Corpus: a text file, a folder of *.txt, or a built-in.")
    ] = "shakespeare",
    time_budget: Annotated[
        float, typer.Option(help="Training seconds per rung.", metavar="SECONDS")
    ] = 60.0,
    rungs: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated, in order. Default: bigram,mlp,lstm,gpt-1head,gpt-6heads,"
            "gpt-2blocks; also rnn, gru, gpt-cpu."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="The seed of every rung.")] = 1337,
    name: Annotated[
        str | None,
        typer.Option(help="Folder under checkpoints/ (default: ladder-<corpus>-<budget>s)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The ladder's folder, anywhere.")] = None,
) -> None:
    """Train the architecture ladder: one model after another, same budget and seed.

    Each rung trains into checkpoints/<ladder>/<rung>/ and shows on the dashboard (with
    --no-ui: printed); then the compare screen opens on all of them (with --no-ui: the
    markdown table, scored on the full val split). Ctrl-C keeps the finished rungs; the
    same command again carries on where it stopped.

    Example:

      charlm-tui --no-ui ladder --data data/tinyshakespeare.txt --time-budget 60
    """
    from charlm_tui.core.training import distributed
    from charlm_tui.core.training.ladder import make_ladder

    lad = make_ladder(data, time_budget, rungs, seed, name, out)
    dist = distributed.from_env()
    if dist.world_size > 1:
        raise CharLMError(
            "ladder trains one rung at a time in one process: run it without torchrun"
        )
    dashboard = not no_ui(ctx)
    if dashboard and not has_terminal():
        print("charlm-tui: no terminal for the dashboard: training headless", file=sys.stderr)
        dashboard = False
    if dashboard:
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp(ladder=lad))
        return
    run_ladder_headless(lad, dist)


def run_ladder_headless(lad: Any, dist: Any) -> None:
    from rich.text import Text

    from charlm_tui.core.runs.comparison import load_runs, row_of, to_markdown
    from charlm_tui.core.training.ladder import run_ladder
    from charlm_tui.core.training.plan import check_corpus
    from charlm_tui.core.training.trainer import execute

    console = Console(highlight=False)
    dones: list[Any] = []

    def announce(text: str) -> None:
        console.rule(Text(text, style="bold"))  # Text: never read as markup

    def train_rung(rung: Any, plan: Any) -> str:
        done = execute(plan, dist, check_corpus(plan), sinks=headless_sinks(plan))
        dones.append(done)
        if done.message:
            print(f"charlm-tui: {done.message}", file=sys.stderr)
        return done.reason

    reason = run_ladder(lad, train_rung, announce)
    if reason != "finished":  # a stop exits 0 for `train`; an unfinished ladder does not
        raise typer.Exit((dones[-1].exit_code if dones else 0) or EXIT_INTERRUPTED)
    paths = lad.run_dirs()
    score_runs(paths)
    rows = [row_of(r) for r in load_runs(paths)]
    print(f"\n{lad.root}: {len(rows)} rungs, {lad.time_budget:g} s each, seed {lad.seed}\n")
    print(to_markdown(rows), end="")


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A finished run.", metavar="RUN")],
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard", help="Write its records as TensorBoard event files in RUN/tb/."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace event files already in RUN/tb/.")
    ] = False,
) -> None:
    """Convert a run's records for other tools: TensorBoard event files.

    Tables of several runs come from `charlm-tui --no-ui compare RUN... --format csv`.
    """
    if not tensorboard:
        raise CharLMError(
            "export what? --tensorboard writes RUN/tb/; tables come from "
            "`charlm-tui --no-ui compare RUN --format csv|json|markdown`"
        )
    from charlm_tui.core.runs.tensorboard import export_run

    out = export_run(run_dir, overwrite)
    print(f"wrote {out}/  (view it with: tensorboard --logdir {out})")


# -- entry point ----------------------------------------------------------------------------


def _error(message: str) -> None:
    from charlm_tui.core.text.display import visible_line

    # Messages can quote a folder or file name, which may hold escape sequences.
    print(f"charlm-tui: error: {visible_line(message)}", file=sys.stderr)


def reflow(doc: str) -> str:
    """A docstring's paragraphs as single lines, for --help to wrap to the terminal:
    rich help keeps a source line break, so an 80-column terminal got ragged halves.
    Indented lines (examples) keep their breaks."""
    paragraphs = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines = para.splitlines()
        indented = any(line.startswith(" ") for line in lines)
        paragraphs.append(para if indented else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


for _info in app.registered_commands:
    if _info.callback is not None and _info.callback.__doc__:
        _info.callback.__doc__ = reflow(_info.callback.__doc__)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code, with one-line errors and no tracebacks."""
    command = typer.main.get_command(app)
    try:
        result: Any = command.main(args=argv, prog_name="charlm-tui", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:  # usage errors: bad option, missing argument...
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "charlm-tui"
        _error(f"{e.format_message()} (see: {where} --help)")
        return e.exit_code
    except typer.Abort:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`charlm-tui sample ... | head`): not an error of ours.
        sys.stderr.close()
        return 1
    except CharLMError as e:
        _error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
