"""`charlm-tui import nanogpt`: a model trained elsewhere, as a run of ours."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from shlex import quote
from typing import Annotated, Any

import typer

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import option
from charlm_tui.tui.cli.common import Group, declared, paragraphs, register


class ImportGroup(Group):
    """`charlm-tui import FORMAT ...`: its usage line names what comes next as the
    commands' own lines do (click writes `COMMAND [ARGS]...`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [self.options_metavar or "[OPTIONS]", "FORMAT", "CKPT"]


import_app = typer.Typer(
    name="import",
    cls=ImportGroup,
    help=paragraphs(
        """Bring in a model trained by another tool as a run: `sample`, `eval`, `inspect`,
        `compare` and `runs` then work on it."""
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)

CkptArg = Annotated[
    Path,
    typer.Argument(help="nanoGPT's ckpt.pt (from its train.py).", metavar="CKPT"),
]


@dataclass(frozen=True)
class NanoGPTImport:
    meta: Path | None = option(
        None,
        "The dataset's meta.pkl (itos, stoi; default: beside CKPT, else "
        "data/<dataset>/meta.pkl named by the checkpoint's config).",
        "input",
        metavar="META_PKL",
    )
    out: Path | None = option(
        None, "Run directory to create (default: checkpoints/<name>).", "output", metavar="DIR"
    )
    name: str | None = option(
        None, "Run name under checkpoints/ (default: nanogpt-<dataset>-<time>).", "output"
    )
    data: str | None = option(
        None,
        "The corpus it trained on (a file, folder of *.txt or built-in), so `eval` can score "
        "it; without it the corpus is unknown and eval asks for --data.",
        "data",
    )

    def check(self) -> None:
        if self.out is not None and self.name is not None:
            raise CharLMError("give --out or --name, not both")


def _default_name(dataset: str | None) -> str:
    from charlm_tui.core.training.plan import check_run_name

    stem = "nanogpt"
    if dataset:
        with contextlib.suppress(CharLMError):  # a name from the checkpoint: anything at all
            stem = f"nanogpt-{check_run_name(dataset)[:60]}"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


@declared(NanoGPTImport)
def nanogpt(ckpt: CkptArg, options: NanoGPTImport) -> None:
    """Import a character-level checkpoint of nanoGPT's train.py as a run of our GPT
    (learned positions, GELU): same weights, same logits.

    Reads ckpt.pt with weights_only and meta.pkl with an unpickler that refuses every
    Python global; refuses GPT-2 (BPE) checkpoints and changed architectures in one line.
    Never replaces an existing folder.

        charlm-tui import nanogpt out-shakespeare-char/ckpt.pt --data input.txt
    """
    from charlm_tui.core import paths
    from charlm_tui.core.interop.interchange import check_new_folder, write_imported
    from charlm_tui.core.models.nanogpt import read_nanogpt
    from charlm_tui.core.text.display import visible_line
    from charlm_tui.core.training.plan import check_path_length, check_run_name

    if options.out is not None:
        check_path_length(options.out, "--out")
        check_new_folder(options.out, "--out")
    elif options.name is not None:
        check_new_folder(paths.runs_dir() / check_run_name(options.name), "--name")
    got = read_nanogpt(ckpt, options.meta, options.data)
    if options.out is not None:
        run_dir = options.out
    else:  # the default name says its dataset, once the checkpoint is read
        name = check_run_name(options.name) if options.name else _default_name(got.dataset)
        run_dir = paths.runs_dir() / name
    write_imported(got, ckpt, run_dir, options.data)
    m = got.mcfg
    shape = f"{m.n_layer}×{m.n_head}×{m.n_embd}, block {m.block_size}"
    print(visible_line(f"imported {ckpt} (iter {got.iter:,}, {shape}, {len(got.vocab)} chars)"))
    print(visible_line(f"wrote {run_dir}/  (try: charlm-tui --no-ui sample {quote(str(run_dir))})"))
    if options.data is None:
        print("its corpus is unknown: give eval and inspect --split a --data")


register(import_app, nanogpt)
