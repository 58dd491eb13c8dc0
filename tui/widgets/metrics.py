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


def _pct(value: Any) -> str:
    return _num(value * 100 if isinstance(value, (int, float)) else None, ".1f") + "%"


def metrics_table(state: RunState) -> Table:
    last = state.evals[-1] if state.evals else {}
    best = state.best_eval or {}
    table = Table(box=None, show_header=True, pad_edge=False, expand=True)
    table.add_column("", style="bold", no_wrap=True)
    for name in ("train", "val", "best val"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_row(
        "loss", _num(last.get("train_loss")), _num(last.get("val_loss")), _num(best.get("val_loss"))
    )
    table.add_row(
        "bpc",
        _num(last.get("train_bpc"), ".3f"),
        _num(last.get("val_bpc"), ".3f"),
        _num(best.get("val_bpc"), ".3f"),
    )
    table.add_row(
        "top@1",
        _pct(last.get("train_top1")),
        _pct(last.get("val_top1")),
        _pct(best.get("val_top1")),
    )
    table.add_row(
        "top@5",
        _pct(last.get("train_top5")),
        _pct(last.get("val_top5")),
        _pct(best.get("val_top5")),
    )
    return table


def where_text(state: RunState) -> str:
    cfg = state.train_config
    if cfg.get("max_iters"):
        return f"iter {state.iter:,}/{cfg['max_iters']:,}"
    return f"iter {state.iter:,} · {_num(cfg.get('time_budget'), 'g')}s"


def timing_text(state: RunState) -> Text:
    step = state.last_step or {}
    last = state.evals[-1] if state.evals else {}
    start = state.start or {}
    rate = step.get("tokens_per_s") or last.get("tokens_per_s") or 0
    elapsed = step.get("elapsed_s", last.get("elapsed_s", 0.0))
    eta = step.get("eta_s", last.get("eta_s", math.nan))
    if state.done:
        elapsed, eta = state.done.get("elapsed_s", elapsed), 0.0
    lines = [
        f"lr {_num(step.get('lr', last.get('lr')), '.2e')} · {fmt_count(rate)} tok/s",
        f"t_train {_num(last.get('t_train_s'), '.1f')}s · "
        f"t_eval {_num(last.get('t_eval_s'), '.1f')}s",
        f"elapsed {fmt_duration(elapsed)} · ETA {fmt_duration(eta)}",
        f"{start.get('device', '?')} · {start.get('threads', '?')} threads · "
        f"{_num(start.get('n_params'), ',')} params",
    ]
    return Text("\n".join(lines))


class MetricsPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="metrics-table")
        with Horizontal(id="progress-row"):
            yield Static(id="where")
            yield ProgressBar(total=1.0, show_eta=False, id="progress")
        yield Static(id="timing")
        yield Sparkline([], id="recent-loss")

    def show(self, state: RunState) -> None:
        # Fixed-size children (see charlm.tcss): no layout pass, which is the costly part.
        self.query_one("#metrics-table", Static).update(metrics_table(state), layout=False)
        self.query_one("#where", Static).update(where_text(state), layout=False)
        self.query_one("#timing", Static).update(timing_text(state), layout=False)
        progress = (state.last_step or {}).get("progress")
        if state.done and state.done.get("reason") == "finished":
            progress = 1.0
        elif progress is None and state.evals:
            progress = state.evals[-1].get("progress")
        self.query_one(ProgressBar).update(total=1.0, progress=progress or 0.0)
        recent = list(state.recent)
        sparkline = self.query_one(Sparkline)
        if recent != sparkline.data:
            sparkline.data = recent
