"""The numbers of a run: losses, bits/char, accuracy, learning rate, speed, progress.

Two clocks: evaluations are rare (every --eval-interval steps, which may be minutes on
a busy machine), step records come every --log-interval steps. So eval numbers carry
the iteration they are from, the latest step record's loss, time and tokens/s are shown
as they come, and the panel says how long until the next eval and sample.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Sparkline, Static

from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.curves import smoothed
from charlm_tui.tui.formatting import fmt_count, fmt_duration, visible

EMA_BETA = 0.9  # the step loss shown: an average over about the last 10 step records


def _num(value: Any, fmt: str = ".4f") -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return format(value, fmt)
    return "–"


def _pct(value: float | None) -> str:
    return _num(value * 100 if value is not None else None, ".1f") + "%"


def spread(values: Iterable[float]) -> tuple[float, float, float] | None:
    """(median, 10th, 90th percentile): a step time and how much it varies."""
    xs = sorted(v for v in values if math.isfinite(v))
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    deciles = statistics.quantiles(xs, n=10, method="inclusive")
    return statistics.median(xs), deciles[0], deciles[-1]


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def metrics_table(view: RunView) -> Table:
    last = view.evals[-1] if view.evals else None
    best = view.best_eval
    table = Table(box=None, show_header=True, pad_edge=False, expand=True)
    # Which evaluation each column is from: they go stale between evals. The first
    # header is the latest eval's iteration alone, so six-digit iterations and 4-decimal
    # losses fit the panel's width (DEFAULT_CSS) in full.
    table.add_column(f"@{last.iter:,}" if last else "no eval", style="bold", no_wrap=True)
    table.add_column("train", justify="right", no_wrap=True)
    table.add_column("val", justify="right", no_wrap=True)
    table.add_column(f"best @{best.iter:,}" if best else "best", justify="right", no_wrap=True)
    for row, attr, fmt in (("loss", "loss", ".4f"), ("bpc", "bpc", ".3f")):
        table.add_row(
            row,
            _num(getattr(last.train, attr) if last else None, fmt),
            _num(getattr(last.val, attr) if last else None, fmt),
            _num(getattr(best.val, attr) if best else None, fmt),
        )
    for row, attr in (("top@1", "top1"), ("top@5", "top5")):
        table.add_row(
            row,
            _pct(getattr(last.train, attr) if last else None),
            _pct(getattr(last.val, attr) if last else None),
            _pct(getattr(best.val, attr) if best else None),
        )
    return table


def step_text(view: RunView) -> Text:
    """The latest step record: smoothed loss, step time; live between evals."""
    step = view.last_step
    if step is None:
        return Text("step –: waiting for step records", style="dim")
    loss = smoothed(view.recent, EMA_BETA)
    times = spread(view.step_times)
    text = Text.assemble(("step ", "bold"), f"{step.iter:,}: loss ", (_num(loss), "bold"))
    if times is not None:
        text.append(f" · {fmt_ms(times[0])}")
    return text


def where_text(view: RunView) -> str:
    length = view.length
    if length is not None and not length.by_time:
        return f"iter {view.iter:,}/{length.iters:,}"
    return f"iter {view.iter:,} · {visible(length.describe()) if length else '?'}"


def timing_text(view: RunView, is_paused: bool = False) -> Text:
    step, last, start = view.last_step, (view.evals[-1] if view.evals else None), view.start
    rate = (step.tokens_per_s if step else 0) or (last.tokens_per_s if last else 0)
    elapsed = step.elapsed_s if step else last.elapsed_s if last else 0.0
    eta = step.eta_s if step else last.eta_s if last else math.nan
    if view.done:
        elapsed, eta = view.done.elapsed_s, 0.0
    lr = step.lr if step else last.lr if last else None
    # Nothing here counts down between records: while the run is paused no record
    # comes, so the ETA stands still, as the trainer's clock (pauses excluded) does.
    eta_text = fmt_duration(eta) + (", paused" if is_paused else "")
    # Most telling first: a short terminal shows only the first lines (tui/charlm.tcss).
    lines = [f"elapsed {fmt_duration(elapsed)} · ETA {eta_text}"]
    if view.alerts:  # a spike: what most needs seeing, so it shows on a short terminal too
        a = view.alerts[-1]
        lines.append(f"⚠ @{a.iter:,}: {a.kind} {_short(a.value)} (avg {_short(a.baseline)})")
    upcoming = []
    for name, label in (("eval_interval", "eval"), ("sample_interval", "sample")):
        due = view.next_due(name)
        if due is not None:
            when = fmt_duration(due[1]) if due[1] is not None else f"@{due[0]:,}"
            upcoming.append(f"{label} {when}")
    lines.append("next " + " · ".join(upcoming) if upcoming else "next: –")
    lines.append(f"{fmt_count(rate)} tok/s · lr {_num(lr, '.2e')}")
    lines.append(
        f"t_train {_num(last.t_train_s if last else None, '.1f')}s · "
        f"t_eval {_num(last.t_eval_s if last else None, '.1f')}s"
    )
    if view.steers:  # the latest change made while it trained, where the chart marks it
        e = view.steers[-1]
        lines.append(f"steered @{e.iter:,}: {e.field} {_short(e.old)} → {_short(e.new)}")
    else:
        device = visible(start.device) if start else "?"
        lines.append(
            f"{device} · {start.threads if start else '?'} threads · "
            f"{_num(start.n_params if start else None, ',')} params"
        )
    return Text("\n".join(lines))


def _short(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


class MetricsPanel(Vertical):
    DEFAULT_CSS = """
    MetricsPanel { width: 46; }  /* "@123,456  10.1234  10.1234  best @123,456" */
    MetricsPanel #metrics-table { height: 5; }
    MetricsPanel #step-line { height: 1; }
    MetricsPanel #progress-row { height: 1; }
    MetricsPanel #where { width: 21; }
    MetricsPanel #progress, MetricsPanel #progress Bar { width: 1fr; }
    MetricsPanel #timing { height: 5; color: $text-muted; }
    MetricsPanel #recent-loss { height: 1fr; min-height: 1; max-height: 4; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="metrics-table")
        yield Static(id="step-line")
        with Horizontal(id="progress-row"):
            yield Static(id="where", markup=False)
            yield ProgressBar(total=1.0, show_eta=False, id="progress")
        yield Static(id="timing")
        yield Sparkline([], id="recent-loss")

    def show(self, view: RunView, is_paused: bool = False) -> None:
        # Fixed-size children (DEFAULT_CSS): no layout pass, which is the costly part.
        self.query_one("#metrics-table", Static).update(metrics_table(view), layout=False)
        self.query_one("#step-line", Static).update(step_text(view), layout=False)
        self.query_one("#where", Static).update(where_text(view), layout=False)
        self.query_one("#timing", Static).update(timing_text(view, is_paused), layout=False)
        self.query_one(ProgressBar).update(total=1.0, progress=view.progress or 0.0)
        recent = list(view.recent)
        sparkline = self.query_one(Sparkline)
        if recent != sparkline.data:
            sparkline.data = recent
