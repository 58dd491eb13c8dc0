"""What every command shares: options made from their declarations, the headless flag,
the terminal check, and launching the app.

A command's options are declared once, as a dataclass of `option(...)` fields
(core/options.py); `declared` turns each field into a typer option (its flag, type,
help, default and panel) and hands the command one checked instance, or, for `train`,
only the options given (its preset fills in the rest).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.markup import escape

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import Spec, build, specs

EXIT_INTERRUPTED = 130
INVOKED: list[str] = []  # the arguments of this invocation (run() sets them): provenance
PANELS = {
    "model": "Model",
    "optimisation": "Optimisation",
    "schedule": "Schedule (one length: --max-iters or --time-budget)",
    "evaluation": "Evaluation and samples",
    "data": "Data",
    "system": "System",
    "sampling": "Sampling",
    "decoding": "Decoding",
    "steer": "Steer",
    "output": "Output",
    "labels": "Tags and notes",
    "health": "Health alerts",
}


class Command(typer.core.TyperCommand):
    """A command whose --help writes no type after a flag (typer writes `<bool>`) and
    names its arguments as most tools do: `CHECKPOINT`, `[DIR]`, `RUN...` (typer writes
    a required one in braces)."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperArgument):
                name = (param.metavar or param.name or "ARG").upper()
                name += "..." if param.nargs != 1 else ""
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class Group(typer.core.TyperGroup):
    """The command group, with the same --help as its commands; --no-ui is taken after
    the command too (`charlm-tui train --no-ui`), where people type it."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:  # typer's completion flags: no "<bool>" after them in --help
            if param.name in ("install_completion", "show_completion"):
                param.metavar = ""
        return params

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        if "--no-ui" in args[:end]:
            args = ["--no-ui", *(a for a in args[:end] if a != "--no-ui"), *args[end:]]
        return super().parse_args(ctx, args)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


def paragraphs(doc: str) -> str:
    """A docstring's paragraphs as single lines, for --help to wrap to the terminal (rich
    help keeps a source line break: an 80-column terminal got ragged halves). Indented
    lines (examples) keep their breaks."""
    out = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines = para.splitlines()
        indented = any(line.startswith(" ") for line in lines)
        out.append(para if indented else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def register(
    app: typer.Typer, command: Callable[..., Any], name: str | None = None, epilog: str = ""
) -> None:
    """Add a command to the app, its help from its docstring."""
    help_ = paragraphs(command.__doc__ or "")
    app.command(name, cls=Command, help=help_, epilog=epilog or None)(command)


# -- the global flag ---------------------------------------------------------------------


def no_ui(ctx: typer.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("no_ui"))


def given(ctx: typer.Context, name: str) -> bool:
    """The option was typed on the command line (not its default, nor the environment):
    an explicit flag beats a convention such as NO_COLOR (no-color.org)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def wants_screen(ctx: typer.Context) -> bool:
    """A command's screen, unless --no-ui, or no terminal (a pipe or a file gets what
    --no-ui prints)."""
    return not no_ui(ctx) and has_terminal()


def wants_dashboard(ctx: typer.Context) -> bool:
    """A training command's choice: the dashboard, unless --no-ui or no terminal (then
    it trains headless and says so on stderr)."""
    if no_ui(ctx):
        return False
    if not has_terminal():
        print("charlm-tui: no terminal for the dashboard: training headless", file=sys.stderr)
        return False
    return True


def launch(tui_app: Any) -> None:
    """Run a CharLMApp (imported by the caller, lazily: headless paths never load textual)."""
    if not has_terminal():
        raise CharLMError("this screen needs a terminal: run it in one, or add --no-ui")
    code = tui_app.run()
    # A crash inside the app (Textual prints its traceback) sets return_code: say so in
    # the exit status too, never 0.
    code = code if isinstance(code, int) and code else tui_app.return_code or 0
    if code:
        raise typer.Exit(code)


# -- options from declarations -----------------------------------------------------------


def show(value: Any) -> str:
    """A default as --help writes it."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_text(spec: Spec) -> str:
    """`[default: 500]` (dim) when the default says something."""
    if spec.default in (None, False, "", ()):
        return ""
    return f" [dim]\\[default: {escape(show(spec.default))}][/dim]"


def parameter(spec: Spec, given_only: bool, help_text: str | None = None) -> inspect.Parameter:
    """The typer option of a declared field. given_only: its default is None (not given),
    so the caller tells an option given from one left to its preset."""
    base = spec.base
    flag = spec.flag
    decls = (f"{flag}/--no-{flag[2:]}",) if base is bool and (given_only or spec.default) else ()
    if (base is bool and not decls) or spec.cli_name:
        decls = (flag,)
    info = typer.Option(
        *decls,
        help=escape(spec.help) + default_text(spec) if help_text is None else help_text,
        rich_help_panel=PANELS.get(spec.group, spec.group.capitalize()),
        show_default=False,
        metavar="" if base is bool else spec.metavar,
    )
    optional = given_only or spec.optional
    if spec.repeated:  # typer repeats a list option: --tag a --tag b
        base = list[base]  # type: ignore[valid-type]
        optional = True
    annotation = Annotated[base | None if optional else base, info]  # type: ignore[valid-type]
    default = None if given_only or spec.repeated else spec.default
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


def declared(
    source: type | dict[str, Spec],
    *,
    into: str = "options",
    given_only: bool = False,
    helps: Callable[[Spec], str] | None = None,
    exclude: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A command whose parameter `into` becomes one typer option per declared field of
    `source` (a dataclass of core/options.py fields, or Specs by name; cli=False fields
    and `exclude` left out).

    The command receives a checked instance of the dataclass (`build`: each value by its
    own rule, then the class's `check()`); with given_only, the dict of the options
    given. Stacked, each decorator hands over its own parameter."""
    fields = source if isinstance(source, dict) else specs(source)
    fields = {n: s for n, s in fields.items() if s.cli and n not in exclude}

    def wrap(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != into]
        made = [parameter(s, given_only, helps(s) if helps else None) for s in fields.values()]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in fields if name in kwargs}
            for name, value in values.items():
                if fields[name].repeated and value is not None:
                    values[name] = tuple(value)
            if not given_only:  # a repeated option left out is its default, not None
                values = {
                    k: v for k, v in values.items() if v is not None or not fields[k].repeated
                }
            if given_only or isinstance(source, dict):
                kwargs[into] = {k: v for k, v in values.items() if v is not None}
            else:
                kwargs[into] = build(source, values)
            return command(**kwargs)

        # Before the options of decorators below this one: stacked, they list top down.
        first = [p for p in own if p.kind != inspect.Parameter.KEYWORD_ONLY]
        rest = [p for p in own if p.kind == inspect.Parameter.KEYWORD_ONLY]
        run.__signature__ = signature.replace(parameters=[*first, *made, *rest])  # type: ignore[attr-defined]
        return run

    return wrap


# -- arguments several commands take -----------------------------------------------------

CheckpointArg = Annotated[
    Path,
    typer.Argument(
        help="A .pt file, or a run directory (its best.pt, else last.pt).", metavar="CHECKPOINT"
    ),
]
RunArg = Annotated[Path, typer.Argument(help="A run directory.", metavar="RUN")]
RunsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Run directories, or folders of runs (a ladder: all its rungs).", metavar="RUN"
    ),
]
