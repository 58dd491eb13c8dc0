"""`charlm-tui`: train, sample, evaluate and browse character-level language models.

One module per command; each command's options are declared once, as dataclass fields
(core/options.py), and turned into typer options by tui/cli/common.py. Errors the user
can fix print one line on stderr and exit with code 2; Ctrl-C exits with 130 after
saving what it can. Nothing here imports torch or textual until a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.cli import common
from charlm_tui.tui.cli.common import EXIT_INTERRUPTED, Group, launch, register
from charlm_tui.tui.cli.model.eval import eval_
from charlm_tui.tui.cli.model.inspect import inspect_
from charlm_tui.tui.cli.model.sample import sample
from charlm_tui.tui.cli.records.compare import compare
from charlm_tui.tui.cli.records.config import config
from charlm_tui.tui.cli.records.export import export
from charlm_tui.tui.cli.records.import_ import import_app
from charlm_tui.tui.cli.records.report import report
from charlm_tui.tui.cli.records.runs import STATUS_HELP, runs
from charlm_tui.tui.cli.training.ladder import ladder
from charlm_tui.tui.cli.training.steer import steer
from charlm_tui.tui.cli.training.train import train
from charlm_tui.tui.cli.training.watch import watch

app = typer.Typer(
    name="charlm-tui",
    cls=Group,
    help=(
        "Train character-level language models and play with them in the terminal.\n\n"
        "Start with:  charlm-tui --no-ui train --preset tiny   (seconds)\n\n"
        "then:        charlm-tui runs   and   charlm-tui --no-ui sample checkpoints/<run>"
    ),
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


def _print_version(asked: bool) -> None:
    if asked:
        from charlm_tui import __version__

        print(f"charlm-tui {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    no_ui: Annotated[
        bool,
        typer.Option(
            "--no-ui",
            help="Headless: print to the terminal, no dashboard (before or after the command).",
            metavar="",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print charlm-tui's version and exit.",
            callback=_print_version,
            is_eager=True,
            metavar="",
        ),
    ] = False,
) -> None:
    ctx.obj = {"no_ui": no_ui}
    if ctx.invoked_subcommand is None:
        if no_ui:
            print(ctx.get_help())
            return
        from charlm_tui.tui.app import CharLMApp

        launch(CharLMApp())


register(app, train)
register(app, sample)
register(app, watch)
register(app, steer)
register(app, eval_, "eval")
register(app, inspect_, "inspect")
register(app, runs, epilog=STATUS_HELP)
register(app, compare)
register(app, ladder)
register(app, export)
register(app, config)
app.add_typer(import_app, name="import")
register(app, report)


def _error(message: str) -> None:
    from charlm_tui.core.text.display import visible_line

    # Messages can quote a folder or file name, which may hold escape sequences.
    print(f"charlm-tui: error: {visible_line(message)}", file=sys.stderr)


def _tolerant_streams() -> None:
    """Output to a stream that cannot encode a character (PYTHONIOENCODING=latin-1, a C
    locale's ASCII) gets an escape for it (\\u20ac) instead of an UnicodeEncodeError:
    a sample or a table never crashes a command, nor a training through its console."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _hint(where: str, argv: list[str]) -> str:
    """What a usage error most likely meant, for the mistakes people make most."""
    if where.endswith(" train") and "--resume" in argv:
        after = argv[argv.index("--resume") + 1 :]
        if after and not after[0].startswith("-"):  # `--resume RUN`: it takes no value
            if {"--out", "--name"} & set(argv):
                return "; --resume takes no value"
            # A name as `runs` lists it is --name's; a path is --out's.
            flag = "--out" if "/" in after[0] or Path(after[0]).is_dir() else "--name"
            return f"; --resume takes no value: charlm-tui train --resume {flag} {after[0]}"
    return ""


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code, with one-line errors and no tracebacks."""
    _tolerant_streams()
    common.INVOKED[:] = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    try:
        result: Any = command.main(args=argv, prog_name="charlm-tui", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:  # usage errors: bad option, missing argument...
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "charlm-tui"
        _error(f"{e.format_message()}{_hint(where, argv or sys.argv[1:])} (see: {where} --help)")
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
