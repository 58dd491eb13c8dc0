"""`charlm-tui config`: a run's configuration as a TOML file that `train --config` reads."""

from __future__ import annotations

from charlm_tui.tui.cli.common import RunArg


def config(run_dir: RunArg) -> None:
    """Print a run's configuration as TOML: every option it trained with (as steered),
    which `train --config FILE` reads back to the same configuration (flags given with it
    override the file; `train --from RUN` does the same without a file).

    Example:

      charlm-tui config checkpoints/myrun > myrun.toml
    """
    from charlm_tui.core.config import SPECS
    from charlm_tui.core.config_file import dump_config
    from charlm_tui.core.training.plan import run_values

    values = run_values(run_dir, "config")
    header = (
        f"The configuration of the run in {run_dir}, written by charlm-tui config.\n"
        "Train it again with: charlm-tui train --config FILE (flags override the file)."
    )
    first = sorted(SPECS.values(), key=lambda s: s.name != "preset")  # as `train --help`
    cli = {spec.name: spec for spec in first if spec.cli}
    print(dump_config(values, cli, header), end="")
