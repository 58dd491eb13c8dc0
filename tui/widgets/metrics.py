"""The numbers of a run: losses, bits/char, accuracy, learning rate, speed, progress."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Sparkline, Static

from tui.formatting import fmt_count, fmt_duration
from tui.state import RunState


def _num(value: Any, fmt: str = ".4f") -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return format(value, fmt)
    return "–"


def _pct(value: float | None) -> str:
    return _num(value * 100 if value is not None else None, ".1f") + "%"


def metrics_table(state: RunState) -> Table:
    last = state.evals[-1] if state.evals else None
    best = state.best_eval
    table = Table(box=None, show_header=True, pad_edge=False, expand=True)
    table.add_column("", style="bold", no_wrap=True)
    for name in ("train", "val", "best val"):
        table.add_column(name, justify="right", no_wrap=True)
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


def where_text(state: RunState) -> str:
    length = state.length
    if length is not None and not length.by_time:
        return f"iter {state.iter:,}/{length.iters:,}"
    return f"iter {state.iter:,} · {length.describe() if length else '?'}"


def timing_text(state: RunState) -> Text:
    step, last, start = state.last_step, (state.evals[-1] if state.evals else None), state.start
    rate = (step.tokens_per_s if step else 0) or (last.tokens_per_s if last else 0)
    elapsed = step.elapsed_s if step else last.elapsed_s if last else 0.0
    eta = step.eta_s if step else last.eta_s if last else math.nan
    if state.done:
        elapsed, eta = state.done.elapsed_s, 0.0
    lr = step.lr if step else last.lr if last else None
    lines = [
        f"lr {_num(lr, '.2e')} · {fmt_count(rate)} tok/s",
        f"t_train {_num(last.t_train_s if last else None, '.1f')}s · "
        f"t_eval {_num(last.t_eval_s if last else None, '.1f')}s",
        f"elapsed {fmt_duration(elapsed)} · ETA {fmt_duration(eta)}",
        f"{start.device if start else '?'} · {start.threads if start else '?'} threads · "
        f"{_num(start.n_params if start else None, ',')} params",
    ]
    return Text("\n".join(lines))


class MetricsPanel(Vertical):
    DEFAULT_CSS = """
    MetricsPanel { width: 42; }
    MetricsPanel #metrics-table { height: 5; }
    MetricsPanel #progress-row { height: 1; }
    MetricsPanel #where { width: 21; }
    MetricsPanel #progress, MetricsPanel #progress Bar { width: 1fr; }
    MetricsPanel #timing { height: 4; color: $text-muted; }
    MetricsPanel #recent-loss { height: 1fr; min-height: 1; max-height: 4; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="metrics-table")
        with Horizontal(id="progress-row"):
            yield Static(id="where")
            yield ProgressBar(total=1.0, show_eta=False, id="progress")
        yield Static(id="timing")
        yield Sparkline([], id="recent-loss")

    def show(self, state: RunState) -> None:
        # Fixed-size children (DEFAULT_CSS): no layout pass, which is the costly part.
        self.query_one("#metrics-table", Static).update(metrics_table(state), layout=False)
        self.query_one("#where", Static).update(where_text(state), layout=False)
        self.query_one("#timing", Static).update(timing_text(state), layout=False)
        progress = state.last_step.progress if state.last_step else None
        if state.done and state.done.reason == "finished":
            progress = 1.0
        elif progress is None and state.evals:
            progress = state.evals[-1].progress
        self.query_one(ProgressBar).update(total=1.0, progress=progress or 0.0)
        recent = list(state.recent)
        sparkline = self.query_one(Sparkline)
        if recent != sparkline.data:
            sparkline.data = recent
