"""The headless front-end: what the commands print with --no-ui, and where it is not a
terminal.

`ConsolePrinter` is a sink like any other: it turns training events into terminal
output. On a TTY a live progress bar (iteration, loss, tokens/s, ETA) sits below the
log; elsewhere (a pipe, CI, a file) only plain lines are printed, one per eval. The
functions below it print the runs table, the comparison, full-split scoring progress
and a text coloured by surprise.

Samples, names and corpora are untrusted text (a corpus may hold escape sequences):
every control character is shown as an escape (tui/formatting.py `visible`), on a
terminal and in a pipe or a file alike, since this output is a log read on some
terminal later; samples.jsonl and `sample` keep the exact characters.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from charlm_tui.core.config import RunLength
from charlm_tui.tui.formatting import fmt_count, fmt_duration, visible

if TYPE_CHECKING:  # annotations only: events are shown by their kind (`_show`)
    from charlm_tui.core.runs import events as ev

SEPARATOR = "-" * 60


def eval_line(e: ev.EvalEvent) -> str:
    """The log line of the original experiment, plus bits/char, lr and throughput."""
    return (
        f"iter {e.iter} | t_train {e.t_train_s:.1f}s t_eval {e.t_eval_s:.1f}s"
        f" | train loss {e.train.loss:.4f} top@1 {e.train.top1:.2%} top@5 {e.train.top5:.2%}"
        f" | val loss {e.val.loss:.4f} top@1 {e.val.top1:.2%} top@5 {e.val.top5:.2%}"
        f" | val bpc {e.val.bpc:.3f} | lr {e.lr:.2e} | {fmt_count(e.tokens_per_s)} tok/s"
        + (" *" if e.is_best else "")
    )


def summary_table(e: ev.StartEvent) -> Table:
    table = Table(title="model", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("layer")
    table.add_column("type")
    table.add_column("params", justify="right")
    for row in e.layers:
        table.add_row(row.name, row.kind, f"{row.params:,}")
    table.add_section()
    table.add_row("total", "", f"{e.n_params:,}")
    return table


class OutputConsole(Console):
    """A Console that outlives its reader: when stdout goes away (`| head`, a closed log
    reader), it goes quiet and the run goes on, recorded in its run directory anyway.
    (Rich's own answer to a broken pipe is to exit the process with code 1.)"""

    gone = False

    def on_broken_pipe(self) -> None:
        self.gone = self.quiet = True
        # Later writes, and Python's flush at exit, go nowhere instead of failing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.file.fileno())
        os.close(devnull)


class ConsolePrinter:
    def __init__(self, console: Console | None = None, progress: bool | None = None) -> None:
        self.console = console or OutputConsole(highlight=False)
        show = self.console.is_terminal if progress is None else progress
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.by_time = False
        self.terminal = self.console.is_terminal
        if show:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[where]}"),
                TextColumn("loss [cyan]{task.fields[loss]}"),
                TextColumn("{task.fields[rate]} tok/s"),
                TextColumn("ETA {task.fields[eta]}"),
                console=self.console,
                transient=True,
            )

    def print(self, *args: object, **kwargs: object) -> None:
        # Log lines never wrap: a pipe or a file gets one record per line.
        self.console.print(*args, soft_wrap=True, **kwargs)

    def shown(self, text: str) -> str:
        """Text from a corpus, a model or a path, escaped wherever it goes: this output is
        a log (train.log, a pipe into `less`, a CI log), read later on some terminal.
        The exact text of every sample is in the run's samples.jsonl."""
        return visible(text)

    def print_untrusted(self, text: str, **kwargs: object) -> None:
        """Running text from a model or a corpus, line breaks and indentation kept."""
        if self.terminal:
            self.print(visible(text), markup=False, **kwargs)
            return
        # Not through Rich: its wrapping and styling are for terminals.
        self.console.file.write(visible(text) + "\n")
        self.console.file.flush()

    def handle(self, event: ev.Event) -> None:
        if not getattr(self.console, "gone", False):
            self._show(event)

    def _show(self, event: ev.Event) -> None:
        """Each kind of event by its method: `_step` for a step record, `_eval`, ...;
        checkpoints print nothing (every eval writes one; the final line names it)."""
        show = getattr(self, f"_{event.EVENT}", None)
        if show is not None:
            show(event)

    def _eval(self, e: ev.EvalEvent) -> None:
        self.print(eval_line(e), markup=False)

    def _sample(self, e: ev.SampleEvent) -> None:
        self.print(SEPARATOR, style="dim", markup=False)
        self.print(f"sample at iter {e.iter}:", style="bold", markup=False)
        self.print_untrusted((e.prompt + e.text).strip("\n"))  # --sample-prompt, then its text
        self.print(SEPARATOR, style="dim", markup=False)

    def _start(self, e: ev.StartEvent) -> None:
        length = RunLength(e.max_iters, e.time_budget)
        self.print(summary_table(e))
        budget = length.describe() + (" budget" if length.by_time else "")
        self.print(
            f"{'resuming' if e.resumed else 'training'} {e.model} "
            f"({e.n_params:,} params) on {e.data!r}: {e.train_chars:,} train / "
            f"{e.val_chars:,} val chars, vocab {e.vocab_size} | {budget} | device {e.device}, "
            f"{e.threads} threads" + (f", {e.world_size} processes" if e.world_size > 1 else ""),
            markup=False,
        )
        if e.run_dir:
            self.print(f"run directory: {self.shown(e.run_dir)}", markup=False)
        if self.progress is not None:
            self.by_time = length.by_time
            total = length.seconds if self.by_time else length.iters
            self.task = self.progress.add_task(
                "train",
                total=total,
                completed=0 if self.by_time else e.iter,
                where="",
                loss="-",
                rate="-",
                eta="--:--",
            )
            self.progress.start()

    def _note(self, e: ev.NoteEvent) -> None:
        """A note of the trainer; "paused ..." / "resumed ..." (a dashboard or
        control.json paused the run) also stop and restart the progress bar's ETA."""
        self.print(f"note: {self.shown(e.text)}", style="yellow", markup=False)
        if self.progress is None or self.task is None:
            return
        if e.text.startswith("paused"):
            self.progress.update(self.task, eta="paused")
        elif e.text.startswith("resumed"):
            self.progress.update(self.task, eta="--:--")  # the next step record says

    def _alert(self, e: ev.AlertEvent) -> None:
        self.print(f"alert: {e.message}", style="bold red", markup=False)

    def _steer(self, e: ev.SteerEvent) -> None:
        """A change made while the run trains: a line, and a new length for the bar."""
        old = "-" if e.old is None else f"{e.old:g}"
        new = "-" if e.new is None else f"{e.new:g}"
        self.print(
            f"steered at iter {e.iter}: {e.field} {old} -> {new}", style="yellow", markup=False
        )
        length_field = "time_budget" if self.by_time else "max_iters"
        if (
            e.field == length_field
            and e.new
            and self.progress is not None
            and self.task is not None
        ):
            self.progress.update(self.task, total=e.new)

    def _step(self, e: ev.StepEvent) -> None:
        if self.progress is None or self.task is None:
            return
        total = self.progress.tasks[0].total or 1
        self.progress.update(
            self.task,
            completed=e.progress * total,
            where=f"iter {e.iter}" if self.by_time else f"{e.iter}/{int(total)}",
            loss=f"{e.loss:.4f}",
            rate=fmt_count(e.tokens_per_s),
            eta=fmt_duration(e.eta_s),
        )

    def _done(self, e: ev.DoneEvent) -> None:
        self.close()
        best = f"{e.best_val_loss:.4f}" if e.best_val_loss is not None else "-"
        if e.reason == "finished":
            head = "done"
        elif e.reason in ("interrupted", "terminated"):
            head = f"{e.reason}, saved"
        else:
            head = e.reason
        where = f" | checkpoint {self.shown(e.last_checkpoint)}" if e.last_checkpoint else ""
        self.print(
            f"{head} at iter {e.iter} after {fmt_duration(e.elapsed_s)} | best val loss {best}"
            + where,
            markup=False,
        )

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


# -- tables --------------------------------------------------------------------------------


def print_runs(views: Sequence[Any], root: Path) -> None:
    """The runs table (tui/tables.py, home's own): on a terminal fitted to its width,
    names and corpora cut in the middle, never the status or age; a pipe gets whole rows."""
    from charlm_tui.tui.tables import BEST_NOTE, RIGHT, runs_table

    console = OutputConsole(highlight=False)
    width = console.width if console.is_terminal else None
    columns, rows = runs_table(views, time.time(), width)
    if width is None:
        console.width = max(200, sum(max(len(c), *(len(r[c]) for r in rows)) + 3 for c in columns))
    table = Table(show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col, justify="right" if col in RIGHT else "left", no_wrap=True)
    for n, row in enumerate(rows):
        after = views[n + 1] if n + 1 < len(views) else None
        table.add_row(
            *(Text(row[c]) for c in columns),  # Text: "[bold]" in a name is not markup
            # a ladder's rungs are one group: a rule above and below it
            end_section=after is not None and after.group != views[n].group,
        )
    console.print(table)
    if any(v.best_val is not None for v in views):
        console.print(Text(BEST_NOTE, style="dim"))


def print_compare(rows: Sequence[Any], baseline: str | None) -> None:
    from charlm_tui.tui.tables import COLUMNS, DELTAS, VAL_NOTE, cell, delta_cell

    table = Table(show_edge=False, pad_edge=False)
    for c in COLUMNS:
        table.add_column(c.title, justify="right" if c.numeric else "left", no_wrap=True)
        if c.key == "val_top5" and baseline is not None:
            for d in DELTAS:
                table.add_column(f"Δ {c.title if d != 'val_loss' else 'val'}", justify="right")
    for r in rows:
        cells = []
        for c in COLUMNS:
            cells.append(Text(cell(r, c.key)))  # Text: a run's name is never markup
            if c.key == "val_top5" and baseline is not None:
                cells += [Text("base" if r.name == baseline else delta_cell(r, d)) for d in DELTAS]
        table.add_row(*cells)
    console = OutputConsole(highlight=False)
    if not console.is_terminal:
        console.width = 240
    console.print(table)
    console.print(Text(VAL_NOTE, style="dim"))


def print_groups(rows: Sequence[Any], baseline: str | None = None) -> None:
    """The runs' seed groups (n, mean ± std) and each one's difference from the baseline
    group with Welch's test; nothing when every run is a group of its own."""
    from charlm_tui.core.report.groups import (
        differences,
        group_rows,
        group_table,
        replicated,
        test_table,
    )

    groups = group_rows(rows)
    if not replicated(groups):
        return
    console = OutputConsole(highlight=False)
    if not console.is_terminal:
        console.width = 240
    tables = (
        (group_table(groups), "seed groups (mean ± std)"),
        (test_table(differences(groups, baseline)), "best val loss: Welch's t-test"),
    )
    for t, title in tables:
        head, cells, right = t
        if not cells:
            continue
        table = Table(show_edge=False, pad_edge=False, title=title)
        for name, r in zip(head, right, strict=True):
            table.add_column(name, justify="right" if r else "left")
        for row in cells:
            table.add_row(*(Text(visible(c)) for c in row))  # Text: never read as markup
        console.print(table)


def print_sweep(views: Sequence[Any], rows: Sequence[Any], swept: Sequence[str]) -> None:
    """For each swept option: val loss against its values, a point per run (a terminal
    scatter, a marker per rung), and the mean ± std at each value of each rung."""
    if not swept or not rows:
        return
    import plotext as plt

    from charlm_tui.core.report.content import series_of, sweep_of
    from charlm_tui.core.report.groups import Stat
    from charlm_tui.core.report.spread import log_x

    console = OutputConsole(highlight=False)
    markers = ("o", "x", "+", "*", "#", "@", "%", "&")
    for name in swept:
        sweep = sweep_of(views, rows, name)
        if sweep is None:  # a categorical option (an optimizer, an activation): a table
            values = [str({**v.model, **v.train}.get(name)) for v in views]
            print(f"\nval loss by {name}:")
            for series in dict.fromkeys(series_of(r.name) for r in rows):
                for value in dict.fromkeys(values):
                    stat = Stat.of([r.val_loss for r, x in zip(rows, values, strict=True)
                                    if x == value and series_of(r.name) == series])  # fmt: skip
                    rung = f"{series}, " if series else ""
                    console.print(Text(visible(f"  {rung}{name} = {value}: {stat.text()}")))
            continue
        print()
        plt.clf()
        plt.plotsize(min(console.width, 100), 18)
        plt.theme("clear")
        xs = [x for x, _, _ in sweep.points]
        log = log_x(xs)
        if log:
            plt.xscale("log")
        for i, series in enumerate(sweep.series()):
            mine = [(x, y) for x, y, s in sweep.points if s == series]
            plt.scatter([x for x, _ in mine], [y for _, y in mine],
                        marker=markers[i % len(markers)],
                        label=visible(series) if series else None)  # fmt: skip
        plt.title(f"val loss against {name}" + (" (log x)" if log else ""))
        plt.xlabel(name)
        print(plt.uncolorize(plt.build()))  # plain: the same in a pipe as on a terminal
        for series in sweep.series():
            for value, stat in sweep.at_each_value(series):
                rung = f"{series}, " if series else ""
                line = f"  {rung}{name} = {value:g}: {stat.text()} over {stat.n} run(s)"
                console.print(Text(visible(line)))


def score_runs(paths: Sequence[Path], device: str = "auto") -> dict[Path, Any]:
    """Full-split val scores for the runs that lack one (progress on stderr); those that
    could not be cached in eval.json (a read-only run), by run, for the caller to show."""
    from charlm_tui.core.errors import CharLMError
    from charlm_tui.core.runs.rundir import RunLock
    from charlm_tui.core.runs.scores import full_eval, read_full_eval, scored_checkpoint
    from charlm_tui.core.text.display import visible_line

    err = Console(stderr=True, highlight=False)
    kept_here: dict[Path, Any] = {}
    for path in paths:
        if read_full_eval(path) is not None or scored_checkpoint(path) is None:
            continue
        name = visible_line(path.name)
        if RunLock.held(path):
            err.print(Text(f"{name}: still training, not scored"))
            continue
        t = time.perf_counter()
        why: list[str] = []
        with err.status(Text(f"scoring {name} on its full val split…")):
            try:
                result = full_eval(path, device, uncached=why.append)
            except CharLMError as e:  # one run that cannot be scored (no corpus): the rest can
                err.print(Text(f"{name}: not scored: {visible_line(str(e))}"))
                continue
        err.print(
            Text(
                f"{name}: full val split, {result.positions:,} positions: "
                f"loss {result.loss:.4f} ({time.perf_counter() - t:.1f}s)"
                + (f"; not cached ({visible_line(why[0])})" if why else "")
            )
        )
        if why:
            kept_here[path] = result
    return kept_here


UNSEEN_STYLE = "bold reverse red"  # a character the model never saw: not scored


def unseen_note(result: Any) -> str:
    """` · 2 characters left out, never seen by the model: '€', '🎭'`; "" when none."""
    from charlm_tui.core.text.vocab import describe_chars

    if not result.unseen:
        return ""
    chars = list(dict.fromkeys(ch for _, ch in result.unseen))
    return (
        f" · {len(result.unseen):,} character(s) left out, never seen by the model: "
        f"{describe_chars(chars, 5)}"
    )


def print_surprise(result: Any, label: str, colour: bool = False) -> None:
    """The text with each character's background coloured by its loss in bits (ANSI
    colours even in a pipe: that is what --format ansi asks for), every character drawn
    visibly: control characters as escapes, never raw. NO_COLOR takes the colours away
    unless `colour` says --format ansi was asked for explicitly."""
    from charlm_tui.core.decoding.inspect import SURPRISE, visible_char
    from charlm_tui.core.text.display import visible_line

    console = Console(
        force_terminal=True, color_system="truecolor", soft_wrap=True, highlight=False,
        markup=False, emoji=False, no_color=False if colour else None,
    )  # fmt: skip
    console.print(
        Text.assemble(
            (f"mean loss {result.mean_loss:.4f} nats · {result.bpc:.3f} bits/char", "bold"),
            f" · {result.n_scored:,} characters scored in windows of {result.block_size} · ",
            visible_line(label),
            unseen_note(result),
        )
    )
    legend = Text(f"{SURPRISE.title}: ")
    for name, value in zip(SURPRISE.labels, [0.25, *SURPRISE.edges], strict=True):
        legend.append(f" {name} ", style=SURPRISE.style(value))
    legend.append("  (first character: only context)")
    if result.unseen:
        legend.append("  ")
        legend.append(" never seen: left out ", style=UNSEEN_STYLE)
    console.print(legend)
    out = Text()
    for ch, n in result.given_text():
        if n is None:
            style = UNSEEN_STYLE
        else:
            style = SURPRISE.style(result.loss[n] / math.log(2)) if n else "dim"
        out.append(" " if ch == " " else visible_char(ch), style=style)
        if ch == "\n":
            out.append("\n")
    console.print(out)
