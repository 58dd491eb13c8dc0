"""`charlm-tui`: train, sample, evaluate and browse character-level language models.

Errors the user can fix print one line on stderr and exit with code 2; Ctrl-C
exits with 130 after saving what it can.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import CharLMError

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

DATA, MODEL, TRAIN, LOG, RUN = "Data", "Model", "Optimisation", "Eval & logging", "Run directory"
EXIT_INTERRUPTED = 130


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
        from tui.app import CharLMApp

        launch(CharLMApp())


# -- train ----------------------------------------------------------------------------------


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


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option(
            help="Text file, folder of *.txt, or built-in corpus: shakespeare, python.",
            rich_help_panel=DATA,
        ),
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(help="Last fraction of the corpus held out.", rich_help_panel=DATA),
    ] = None,
    encoding_errors: Annotated[
        str | None,
        typer.Option(help="strict (refuse bad UTF-8) or replace (U+FFFD).", rich_help_panel=DATA),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="tiny, seed, nanogpt-baby, cpu (default), bigram, mlp, rnn, gru or lstm; "  # zoo
            "options below override it.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="gpt, bigram, mlp, rnn, gru or lstm.", rich_help_panel=MODEL),  # zoo
    ] = None,
    n_layer: Annotated[
        int | None, typer.Option(help="Transformer blocks.", rich_help_panel=MODEL)
    ] = None,
    n_head: Annotated[
        int | None, typer.Option(help="Attention heads.", rich_help_panel=MODEL)
    ] = None,
    n_embd: Annotated[
        int | None, typer.Option(help="Embedding width.", rich_help_panel=MODEL)
    ] = None,
    block_size: Annotated[
        int | None, typer.Option(help="Context length in characters.", rich_help_panel=MODEL)
    ] = None,
    dropout: Annotated[
        float | None, typer.Option(help="Dropout rate.", rich_help_panel=MODEL)
    ] = None,
    activation: Annotated[
        str | None,
        typer.Option(help="MLP nonlinearity: gelu or relu2 (ReLU squared).", rich_help_panel=MODEL),
    ] = None,
    position: Annotated[
        str | None,
        typer.Option(
            help="Positions: learned embeddings or rope (rotary, in attention).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Sequences per step.", rich_help_panel=TRAIN)
    ] = None,
    max_iters: Annotated[
        int | None, typer.Option(help="Optimizer steps to train for.", rich_help_panel=TRAIN)
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            help="Train for this many seconds instead; the LR schedule follows the budget.",
            rich_help_panel=TRAIN,
        ),
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate.", rich_help_panel=TRAIN)
    ] = None,
    min_lr: Annotated[
        float | None,
        typer.Option(help="Learning rate at the end of the cosine.", rich_help_panel=TRAIN),
    ] = None,
    warmup_iters: Annotated[
        int | None, typer.Option(help="Linear warmup steps.", rich_help_panel=TRAIN)
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(
            help="adamw, or muon: orthogonalized updates for the blocks' matrices "
            "(AdamW for the rest); the cpu preset's choice.",
            rich_help_panel=TRAIN,
        ),
    ] = None,
    weight_decay: Annotated[
        float | None, typer.Option(help="Decoupled decay on matrices.", rich_help_panel=TRAIN)
    ] = None,
    beta1: Annotated[
        float | None, typer.Option(help="AdamW beta1 (momentum).", rich_help_panel=TRAIN)
    ] = None,
    beta2: Annotated[
        float | None,
        typer.Option(help="AdamW beta2 (0.99 suits small data).", rich_help_panel=TRAIN),
    ] = None,
    grad_clip: Annotated[
        float | None, typer.Option(help="Clip the gradient norm (0: off).", rich_help_panel=TRAIN)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.", rich_help_panel=TRAIN)] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=TRAIN)
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads for torch (0: default).", rich_help_panel=TRAIN)
    ] = None,
    compile: Annotated[
        bool | None,
        typer.Option(
            "--compile/--no-compile",
            help="torch.compile the model (needs a C compiler; falls back to eager).",
            rich_help_panel=TRAIN,
        ),
    ] = None,
    eval_interval: Annotated[
        int | None, typer.Option(help="Evaluate every N steps.", rich_help_panel=LOG)
    ] = None,
    eval_iters: Annotated[
        int | None, typer.Option(help="Batches per split at each eval.", rich_help_panel=LOG)
    ] = None,
    sample_interval: Annotated[
        int | None,
        typer.Option(help="Print a sample every N steps (0: never).", rich_help_panel=LOG),
    ] = None,
    sample_chars: Annotated[
        int | None, typer.Option(help="Length of those samples.", rich_help_panel=LOG)
    ] = None,
    log_interval: Annotated[
        int | None, typer.Option(help="Write a step record every N steps.", rich_help_panel=LOG)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run directory (default: checkpoints/<name>).", rich_help_panel=RUN),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Run name under checkpoints/.", rich_help_panel=RUN)
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the run in --out / --name.", rich_help_panel=RUN),
    ] = False,
    resume_from: Annotated[
        str, typer.Option(help="Resume from its last or best checkpoint.", rich_help_panel=RUN)
    ] = "last",
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace the run already in --out.", rich_help_panel=RUN),
    ] = False,
) -> None:
    """Train a model. Prints a progress bar, one line per eval and samples as it learns.

    Examples:

      charlm-tui --no-ui train --preset tiny

      charlm-tui --no-ui train --data my.txt --preset seed --time-budget 600

      charlm-tui --no-ui train --name myrun --resume --max-iters 5000
    """
    options = dict(locals())  # first: exactly the parameters of this command
    from core import distributed
    from core.config import MODEL_FIELDS, TRAIN_FIELDS, build_configs
    from core.rundir import default_runs_dir
    from core.train import graceful_sigint, prepare

    overrides = {k: v for k, v in options.items() if k in MODEL_FIELDS | TRAIN_FIELDS}
    if out is not None and name is not None:
        raise CharLMError("give --out or --name, not both")
    if resume and overwrite:
        raise CharLMError("--resume and --overwrite contradict each other: choose one")
    if resume and out is None and name is None:
        raise CharLMError("--resume needs the run to continue: pass --out DIR or --name NAME")
    if name is not None and (not name.strip() or "/" in name or name in (".", "..")):
        raise CharLMError(f"--name must be a plain folder name, not {name!r}")
    # When resuming, the run's own configuration replaces these (see core.train.prepare).
    mcfg, tcfg = build_configs(preset, {} if resume else overrides)
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = default_runs_dir() / (name or f"{tcfg.preset}-{mcfg.model}-{stamp}")
    dashboard = not no_ui(ctx) and distributed.from_env().world_size == 1
    if dashboard and not has_terminal():
        print("charlm-tui: no terminal for the dashboard: training headless", file=sys.stderr)
        dashboard = False
    trainer = prepare(
        mcfg,
        tcfg,
        out,
        resume=resume,
        resume_from=resume_from,
        overwrite=overwrite,
        changed=overrides if resume else None,
        dry_run=dashboard,  # the dashboard checks here, then trains in a child process
    )
    if dashboard:
        from tui.app import CharLMApp
        from tui.process import train_argv

        if resume:
            argv = train_argv(None, None, out, True, resume_from, overrides)
        else:
            argv = train_argv(trainer.mcfg, trainer.tcfg, out)
            if overwrite:
                argv.append("--overwrite")
        launch(CharLMApp(train=(out, argv)))
        return
    if trainer.dist.is_main:
        from tui.console import ConsolePrinter

        trainer.sinks.append(ConsolePrinter())
    with graceful_sigint(trainer.control):
        try:
            done = trainer.run()
        finally:
            distributed.shutdown(trainer.dist)
    if done.message:
        print(f"charlm-tui: {done.message}", file=sys.stderr)
    codes = {"finished": 0, "stopped": 0, "interrupted": EXIT_INTERRUPTED}
    raise typer.Exit(codes.get(done.reason, 1))


# -- sample ---------------------------------------------------------------------------------


CheckpointArg = Annotated[
    Path, typer.Argument(help="A .pt file, or a run directory (its best.pt, else last.pt).")
]


@app.command()
def sample(
    ctx: typer.Context,
    checkpoint: CheckpointArg,
    prompt: Annotated[str, typer.Option(help="Text to continue (default: a newline).")] = "",
    max_new_tokens: Annotated[int, typer.Option(help="Characters to generate.")] = 500,
    temperature: Annotated[float, typer.Option(help="0 is greedy; higher is wilder.")] = 0.8,
    top_k: Annotated[int, typer.Option(help="Sample from the k likeliest (0: all).")] = 0,
    top_p: Annotated[float, typer.Option(help="Nucleus: smallest set with this mass.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed and checkpoint, same text.")] = 1337,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "cpu",
    precision: Annotated[
        str,
        typer.Option(
            help="Weights for decoding: int8 is ~1.5x faster on CPU and moves val loss by "
            "~1e-4 nats; fp32 is exact. auto: int8 for gpt on CPU."
        ),
    ] = "auto",
) -> None:
    """Generate text from a checkpoint, streamed character by character.

    Opens the generate pane; with --no-ui, streams to stdout instead.
    """
    import torch

    from core.checkpoint import load_model
    from core.models.quant import check_precision, decoder_for
    from core.sampling import SamplingParams, generate
    from core.train import resolve_device

    params = SamplingParams(temperature, top_k, top_p)
    params.validate()
    if max_new_tokens < 0:
        raise CharLMError(f"--max-new-tokens must be zero or more, not {max_new_tokens}")
    check_precision(precision)  # before loading the checkpoint: fail fast
    model, vocab, _ = load_model(checkpoint)
    if not no_ui(ctx):
        from core.checkpoint import resolve_in_run
        from tui.app import CharLMApp

        path = resolve_in_run(checkpoint) if checkpoint.is_dir() else checkpoint
        options = dict(
            path=path,
            prompt=prompt,
            params=params,
            max_new=max_new_tokens,
            seed=seed,
            precision=precision,
        )
        launch(CharLMApp(generate=options))
        return
    dev = resolve_device(device)
    model.to(dev)
    decoder = decoder_for(model, precision, dev.type)
    context = prompt
    if not context:
        context = "\n" if "\n" in vocab.stoi else vocab.chars[0]
    ids = vocab.encode(context, "the prompt")
    out = sys.stdout
    out.write(prompt)
    try:
        gen = torch.Generator().manual_seed(seed)
        for tok in generate(model, ids, max_new_tokens, params, gen, dev, decoder=decoder):
            out.write(vocab.chars[tok])
            out.flush()
    except KeyboardInterrupt:
        out.write("\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    out.write("\n")


# -- watch ----------------------------------------------------------------------------------


@app.command()
def watch(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. checkpoints/<run>.")],
) -> None:
    """Open the dashboard on a run another process is writing (or has written).

    Follows metrics.jsonl and samples.jsonl as they grow: start a headless run in one
    terminal (or on a GPU box with a shared folder) and watch it in another.
    """
    from core.rundir import is_run_dir

    if not run_dir.is_dir():
        raise CharLMError(f"no such run directory: {run_dir}")
    if not is_run_dir(run_dir):
        raise CharLMError(f"{run_dir} is not a run directory (no config.json or metrics.jsonl)")
    from tui.app import CharLMApp

    launch(CharLMApp(watch=run_dir))


# -- eval -----------------------------------------------------------------------------------


@app.command("eval")
def eval_(
    checkpoint: CheckpointArg,
    data: Annotated[
        str | None, typer.Option(help="Corpus to score (default: the one it was trained on).")
    ] = None,
    split: Annotated[str, typer.Option(help="val or train.")] = "val",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass.")] = 32,
    encoding_errors: Annotated[str, typer.Option(help="strict or replace.")] = "strict",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "cpu",
) -> None:
    """Score a checkpoint on EVERY position of a split: loss, bits/char, top@1, top@5."""
    from rich.progress import Progress

    from core.checkpoint import load_model
    from core.config import from_dict
    from core.data import load_corpus, make_dataset
    from core.evaluate import evaluate_split
    from core.train import resolve_device

    if split not in ("train", "val"):
        raise CharLMError(f"--split must be 'train' or 'val', not {split!r}")
    if batch_size <= 0:
        raise CharLMError(f"--batch-size must be greater than zero, not {batch_size}")
    model, vocab, ckpt = load_model(checkpoint)
    mcfg, tcfg = from_dict(ckpt["config"], str(checkpoint))
    corpus = load_corpus(data or tcfg.data, encoding_errors)
    vocab.check(corpus.text, f"the corpus {corpus.spec!r}")
    dataset = make_dataset(corpus, tcfg.val_fraction, vocab=vocab)
    part = dataset.split(split)
    if len(part) < 2:
        raise CharLMError(f"the {split} split of {corpus.spec!r} has fewer than 2 characters")
    dev = resolve_device(device)
    model.to(dev)
    err = Console(stderr=True)
    t = time.perf_counter()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(f"eval {split}", total=None)
        metrics = evaluate_split(
            model,
            part,
            mcfg.block_size,
            batch_size,
            dev,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    seconds = time.perf_counter() - t
    result = {
        "checkpoint": str(checkpoint),
        "data": corpus.spec,
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
        f"{split} of {corpus.spec!r}, {metrics.n_tokens:,} positions: loss {metrics.loss:.4f} "
        f"| bits/char {metrics.bpc:.4f} | top@1 {metrics.top1:.2%} | top@5 {metrics.top5:.2%} "
        f"| {seconds:.1f}s"
    )


# -- runs -----------------------------------------------------------------------------------


@app.command()
def runs(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder of runs, or one run (default: checkpoints/).")
    ] = None,
) -> None:
    """List runs and their checkpoints: model, params, iteration, best val loss, corpus, age."""
    from core.rundir import default_runs_dir, list_runs
    from tui.formatting import fmt_age

    root = directory or default_runs_dir()
    if directory is None and not root.exists():
        print(f"no runs yet in {root}/: start one with  charlm-tui --no-ui train --preset tiny")
        return
    infos = list_runs(root)
    if not infos:
        print(f"no runs in {root}: start one with  charlm-tui --no-ui train --out {root}/NAME")
        return
    table = Table(show_edge=False, pad_edge=False)
    for col, justify in (
        ("run", "left"),
        ("model", "left"),
        ("params", "right"),
        ("iter", "right"),
        ("best val", "right"),
        ("corpus", "left"),
        ("checkpoints", "left"),
        ("status", "left"),
        ("age", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for i in infos:
        table.add_row(
            i.path.name if i.path != root else str(i.path),
            i.model,
            f"{i.n_params:,}" if i.n_params else "-",
            str(i.iter) if i.iter is not None else "-",
            f"{i.best_val_loss:.4f}" if i.best_val_loss is not None else "-",
            i.corpus,
            ",".join(c.removesuffix(".pt") for c in i.checkpoints) or "-",
            i.status,
            fmt_age(i.age_s),
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200  # a pipe gets whole rows, not an 80-column squeeze
    console.print(table)


# -- entry point ----------------------------------------------------------------------------


def _error(message: str) -> None:
    print(f"charlm-tui: error: {message}", file=sys.stderr)


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
