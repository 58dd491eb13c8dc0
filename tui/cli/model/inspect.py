"""`charlm-tui inspect`: a text coloured by the model's surprise at each character."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import typer

from charlm_tui.core.config import DeviceOption
from charlm_tui.core.decoding.options import Source
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import option
from charlm_tui.tui.cli.common import CheckpointArg, declared, given, launch, wants_screen


@dataclass(frozen=True)
class InspectOutput:
    format: Literal["ansi", "json"] = option(
        "ansi",
        "With --no-ui: coloured text (ansi), or one JSON record per character, then the "
        "mean (json).",
        "output",
    )
    embeddings: bool = option(
        False,
        "Instead of scoring a text: the map of the model's character embeddings (their "
        "first two principal components), drawn as text; with --format json, each "
        "character's coordinates.",
        "output",
    )
    lens: bool = option(
        False,
        "With --format json, a GPT's logit lens too: for each character, the 3 likeliest "
        "next characters read from the residual stream after each block (the last block's "
        "are the model's own).",
        "output",
    )

    def check(self) -> None:
        if self.embeddings and self.lens:  # the map scores no text: no lens to show
            raise CharLMError("give --embeddings or --lens, not both: the map reads no text")


@declared(Source, into="source")
@declared(DeviceOption, into="on")
@declared(InspectOutput, into="output")
def inspect_(
    ctx: typer.Context,
    checkpoint: CheckpointArg,
    source: Source,
    on: DeviceOption,
    output: InspectOutput,
) -> None:
    """Colour a text by the model's surprise at each character; see what it attends to.

    Scored in eval's windows of block_size characters: the mean is eval's loss.

    Opens the inspect screen; with --no-ui, prints the coloured text, or JSON.
    """
    from charlm_tui.core.config import from_dict
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.runs.rundir import checkpoint_path

    path = checkpoint_path(checkpoint)
    model, vocab, ckpt = load_model(path)
    mcfg, tcfg = from_dict(ckpt["config"], str(path))
    if output.embeddings:
        print_embeddings(model, vocab, output.format == "json")
        return
    if output.lens:  # refused before any text is scored
        from charlm_tui.core.decoding.inspect import no_lens

        if output.format != "json":
            raise CharLMError("--lens goes with --format json (the inspect screen shows it: g)")
        if why := no_lens(model):
            raise CharLMError(f"--lens: {why}")
    from charlm_tui.core.decoding.inspect import drop_unseen

    chosen = source.read(vocab, tcfg, unseen_ok=True)  # unseen characters: left out, shown
    if len(drop_unseen(vocab, chosen)[0]) < 2:
        raise CharLMError(
            f"{source.describe()} needs at least 2 characters the model knows to score"
        )
    if wants_screen(ctx):
        from charlm_tui.tui.app import CharLMApp
        from charlm_tui.tui.messages import OpenInspect

        launch(CharLMApp(inspect=OpenInspect(path, source, chosen)))
        return
    from charlm_tui.core.decoding.inspect import inspect_text
    from charlm_tui.core.device import resolve_device
    from charlm_tui.tui.console import print_surprise

    dev = resolve_device(on.device)
    model.to(dev)
    result = inspect_text(model, vocab, chosen, mcfg.block_size, device=dev,
                          what=source.describe(), skip_unseen=True)  # fmt: skip
    if output.format == "json":
        for record in records(result, model if output.lens else None, dev):
            print(json.dumps(record))
        print(json.dumps({**result.summary(), "checkpoint": str(checkpoint),
                          "source": source.describe()}))  # fmt: skip
        return
    print_surprise(result, f"{source.describe()} · {checkpoint}", colour=given(ctx, "format"))


def print_embeddings(model: Any, vocab: Any, as_json: bool) -> None:
    """The embedding map, as text (characters shown visibly) or JSON (exact)."""
    from charlm_tui.core.decoding.embeddings import draw, embedding_map

    emap = embedding_map(model, vocab)
    if emap is None:
        raise CharLMError("--embeddings: this model has no embedding table to map")
    if as_json:
        points = [
            {"char": c, "x": x, "y": y} for c, (x, y) in zip(emap.chars, emap.xy, strict=True)
        ]
        print(json.dumps({"points": points, "explained": list(emap.explained)}))
        return
    a, b = emap.explained
    print(f"character embeddings, first two principal components ({a:.0%} and {b:.0%} of "
          "their variance); ⏎ newline, ␣ space, · other, + the origin")  # fmt: skip
    print("\n".join(draw(emap)))


def records(result: Any, lens_model: Any, device: Any) -> Any:
    """One JSON record per character; with a model for it, each with its logit lens."""
    for n in range(len(result)):
        record = result.record(n)
        if lens_model is not None:
            lens = result.lens_of(n, lens_model, device)
            record["lens"] = lens and [[{"char": c, "prob": p} for c, p in layer] for layer in lens]
        yield record
