"""`charlm-tui export`: a run's model and records for other tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import option
from charlm_tui.tui.cli.common import RunArg, declared


@dataclass(frozen=True)
class ExportOptions:
    tensorboard: bool = option(
        False, "Write its records as TensorBoard event files in RUN/tb/.", "output"
    )
    safetensors: bool = option(
        False,
        "Write its model (best.pt, else last.pt) as model.safetensors and model.json: "
        "loadable without pickle; sample, eval and inspect take the folder.",
        "output",
    )
    csv: bool = option(
        False, "Write its step and eval records as steps.csv and evals.csv.", "output"
    )
    out: Path | None = option(
        None, "Folder for --safetensors and --csv (default: RUN/export/).", "output", metavar="DIR"
    )
    overwrite: bool = option(False, "Replace files an earlier export wrote there.", "output")

    def check(self) -> None:
        if self.out is not None and not (self.safetensors or self.csv):
            raise CharLMError("--out is where --safetensors and --csv write: give one of them")


@declared(ExportOptions)
def export(run_dir: RunArg, options: ExportOptions) -> None:
    """Convert a run for other tools: TensorBoard event files, its model as safetensors,
    its records as CSV. Give several flags to write each.

    Tables of several runs come from `charlm-tui --no-ui compare RUN... --format csv`.
    """
    if not (options.tensorboard or options.safetensors or options.csv):
        raise CharLMError(
            "export what? --tensorboard (RUN/tb/), --safetensors (the model, without "
            "pickle), --csv (step and eval records); tables of runs come from "
            "`charlm-tui --no-ui compare RUN --format csv`"
        )
    if not run_dir.is_dir():
        raise CharLMError(f"{run_dir} is not a run directory")
    from charlm_tui.core.runs.rundir import EXPORT
    from charlm_tui.core.text.display import visible_line as shown  # a folder name is untrusted

    out = options.out if options.out is not None else run_dir / EXPORT
    if options.tensorboard:
        from charlm_tui.core.interop.tensorboard import export_run

        tb = export_run(run_dir, options.overwrite)
        print(shown(f"wrote {tb}/  (view it with: tensorboard --logdir {quote(str(tb))})"))
    if options.safetensors:
        from charlm_tui.core.interop.interchange import export_safetensors
        from charlm_tui.core.models.exported import DESCRIPTION, WEIGHTS

        source, folder = export_safetensors(run_dir, out, options.overwrite)
        hint = f"charlm-tui --no-ui sample {quote(str(folder))}"
        print(
            shown(f"wrote {folder}/{WEIGHTS} and {DESCRIPTION} from {source.name}  (try: {hint})")
        )
    if options.csv:
        from charlm_tui.core.interop.interchange import export_csv

        written = export_csv(run_dir, out, options.overwrite)
        print(shown("wrote " + " and ".join(str(p) for p in written)))
