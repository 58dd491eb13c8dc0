"""`charlm-tui export`: a run's records for other tools."""

from __future__ import annotations

from dataclasses import dataclass

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import option
from charlm_tui.tui.cli.common import RunArg, declared


@dataclass(frozen=True)
class ExportOptions:
    tensorboard: bool = option(
        False, "Write its records as TensorBoard event files in RUN/tb/.", "output"
    )
    overwrite: bool = option(False, "Replace event files already in RUN/tb/.", "output")


@declared(ExportOptions)
def export(run_dir: RunArg, options: ExportOptions) -> None:
    """Convert a run's records for other tools: TensorBoard event files.

    Tables of several runs come from `charlm-tui --no-ui compare RUN... --format csv`.
    """
    if not options.tensorboard:
        raise CharLMError(
            "export what? --tensorboard writes RUN/tb/; tables come from "
            "`charlm-tui --no-ui compare RUN --format csv|json|markdown`"
        )
    from charlm_tui.core.runs.tensorboard import export_run

    out = export_run(run_dir, options.overwrite)
    print(f"wrote {out}/  (view it with: tensorboard --logdir {out})")
