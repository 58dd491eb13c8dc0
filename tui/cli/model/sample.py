"""`charlm-tui sample`: text from a checkpoint, in the generate pane or streamed to stdout."""

from __future__ import annotations

import sys

import typer

from charlm_tui.core.config import DeviceOption
from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.tui.cli.common import (
    EXIT_INTERRUPTED,
    CheckpointArg,
    declared,
    launch,
    wants_screen,
)


@declared(GenerateOptions)
@declared(DeviceOption, into="on")
def sample(
    ctx: typer.Context, checkpoint: CheckpointArg, options: GenerateOptions, on: DeviceOption
) -> None:
    """Generate text from a checkpoint, streamed character by character.

    Opens the generate pane; with --no-ui, streams to stdout instead (exactly the text:
    pipe it to a file).
    """
    import torch

    from charlm_tui.core.decoding.sampling import default_context, generate
    from charlm_tui.core.device import resolve_device
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.models.compiled import make_decoder
    from charlm_tui.core.runs.rundir import checkpoint_path
    from charlm_tui.core.text.display import visible

    dev = resolve_device(on.device)
    path = checkpoint_path(checkpoint)
    model, vocab, _ = load_model(path)
    if wants_screen(ctx):
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp(generate=(path, options)))
        return
    model.to(dev)
    decoder = make_decoder(
        model, options.precision, options.compile, dev.type,
        note=lambda m: print(f"charlm-tui: {m}", file=sys.stderr),
    )  # fmt: skip
    prompt = options.prompt
    ids = vocab.encode(prompt or default_context(vocab), "the prompt")
    out = sys.stdout
    # A terminal sees what the model wrote with control characters escaped (they could
    # retitle the window or forge the screen); a pipe or a file gets the exact text.
    show = visible if out.isatty() else str
    out.write(show(prompt))
    try:
        gen = torch.Generator().manual_seed(options.seed)
        for tok in generate(
            model, ids, options.max_new_tokens, options.params, gen, dev, decoder=decoder
        ):
            out.write(show(vocab.chars[tok]))
            out.flush()
    except KeyboardInterrupt:
        out.write("\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    out.write("\n")
