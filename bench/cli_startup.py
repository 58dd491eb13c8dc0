"""How long the light commands take to answer, against a bare typer app with the same commands.

    python bench/cli_startup.py [--rounds 7]

In turns (A B A B ...), each a whole process, `--rounds` times:
  A: `python -m charlm_tui --help`;
  B: a bare typer app written here, with the same command names and as many options per
     command (introspected from ours), no help panels and nothing else: what a typer CLI
     of this shape costs at the least.
Then the other light commands, each against B's `--help` in turns: every command's
`--help`, `runs` over a folder of runs, `compare --no-ui` without scoring and `steer`
(its refusal on a finished run is as light as its success). Prints the median of each
and its ratio to B. The issue's target: `--help` within 1.5x of B.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, table  # puts the repository on sys.path

BARE = '''
import typer
app = typer.Typer(name="charlm-tui", add_completion=True)
@app.callback()
def main(no_ui: bool = typer.Option(False, "--no-ui")) -> None:
    """Train character-level language models."""
{commands}
app()
'''
COMMAND = '''
@app.command("{name}")
def cmd_{n}({params}) -> None:
    """{name}"""
'''


def bare_app(path: Path) -> None:
    """A typer app with our command names and, for each, as many string options."""
    import typer.main

    from charlm_tui.tui.cli import app

    group = typer.main.get_command(app)
    commands = []
    for n, (name, command) in enumerate(sorted(group.commands.items())):  # type: ignore[attr-defined]
        params = ", ".join(
            f'o{k}: str = typer.Option("", "--o{k}")' for k in range(len(command.params))
        )
        commands.append(COMMAND.format(name=name, n=n, params=params))
    path.write_text(BARE.format(commands="".join(commands)))


# As an installed command runs: with bytecode caches (the first, unmeasured call writes
# them; some sandboxes set PYTHONDONTWRITEBYTECODE, which would time the compiler).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, check=False)
    return time.perf_counter() - t


def fake_runs(folder: Path) -> None:
    from tests.tui_helpers import fake_run

    for name, iters in (("a", 400), ("b", 300)):
        fake_run(folder, name, iters=iters)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    py = sys.executable
    ours = [py, "-m", "charlm_tui"]
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare_app(bare)
        fake_runs(Path(tmp))
        a, b = str(Path(tmp) / "a"), str(Path(tmp) / "b")
        cases = {
            "--help": [*ours, "--help"],
            "train --help": [*ours, "train", "--help"],
            "compare --help": [*ours, "compare", "--help"],
            "runs FOLDER": [*ours, "runs", tmp],
            "compare --no-ui A B": [*ours, "--no-ui", "compare", a, b],
            "steer A --lr-scale 0.5": [*ours, "steer", a, "--lr-scale", "0.5"],
        }
        baseline = [py, str(bare), "--help"]
        times: dict[str, list[float]] = {name: [] for name in cases}
        base: list[float] = []
        for argv in (*cases.values(), baseline):
            wall(argv)  # warm the page cache and the bytecode caches: not measured
        for _ in range(args.rounds):
            for name, argv in cases.items():  # in turns: A B A B ...
                times[name].append(wall(argv))
                base.append(wall(baseline))
    b_med = statistics.median(base)
    rows = [["bare typer --help (B)", f"{b_med * 1e3:.0f} ms", "1.00x"]]
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append([f"charlm-tui {name}", f"{med * 1e3:.0f} ms", f"{med / b_med:.2f}x"])
    print(machine())
    print(f"median of {args.rounds} whole processes each, each in turns with B")
    print(table(["command", "wall", "vs B"], rows))


if __name__ == "__main__":
    main()
