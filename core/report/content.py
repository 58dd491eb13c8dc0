"""What a report says about its runs, gathered once from their views: the results table,
the options that differ, each model's layers, the samples and the curves to draw.

Markdown and HTML (core/report/markdown.py, page.py) only lay this out. Every string in
it that came from a run folder (names, corpora, layer names, option values, samples) is
untrusted and still raw here: each format escapes it its own way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from charlm_tui.core.config import MODEL_FIELDS, MODEL_USES, NOT_LEARNED, shape_label
from charlm_tui.core.measures import LayerSummary
from charlm_tui.core.options import FRACTION, option
from charlm_tui.core.report.curves import XAxis, run_curve, steer_marks
from charlm_tui.core.report.groups import (
    Difference,
    Group,
    Stat,
    group_rows,
    replicated,
)
from charlm_tui.core.report.groups import differences as group_tests
from charlm_tui.core.report.rows import Row, corpus_label, corpus_warning, row_of
from charlm_tui.core.report.samples import FinalSample, final_sample
from charlm_tui.core.runs.events import SampleEvent
from charlm_tui.core.runs.listing import labels_for
from charlm_tui.core.runs.provenance import differing
from charlm_tui.core.runs.view import RunView, config_differs
from charlm_tui.core.values import as_int

SAMPLES_KEPT = 8  # per run: a long run's every sample would bury the table


@dataclass(frozen=True)
class ChartOptions:
    """How the report draws its loss curves, declared once (`report --x --log-y --smooth`)."""

    x: Literal["iter", "chars", "seconds"] = option(
        "iter", "The charts' x axis: iterations, characters seen or training seconds.", "chart"
    )
    log_y: bool = option(False, "Log-scale the loss axis.", "chart")
    smooth: float = option(
        0.0,
        "Smooth the curves: an exponential moving average of this weight (0: raw; 0.9 as "
        "the dashboard's `)`), TensorBoard's debiased EMA; the raw curve stays, faint.",
        "chart",
        range=FRACTION,
    )


@dataclass(frozen=True)
class Result:
    """One line of the results table: compare's row, and the experiment log's timings."""

    row: Row
    model: str  # `gpt 1×6×384 · block 256`; the records' model where config.json differs
    t_train: float | None  # seconds spent training (evals left out), summed over its evals
    t_eval: float | None  # seconds spent in its evals
    tokens_per_s: float | None  # characters trained on per training second, to its last eval
    val_on: str  # what the val numbers were scored on: "full val split" / "10 eval batches"
    train_on: str  # the train loss's: always eval batches

    @property
    def name(self) -> str:
        return self.row.name


@dataclass(frozen=True)
class Curves:
    """One run's curves on the report's x axis: eval losses, step losses, steer marks."""

    val: tuple[list[float], list[float]]
    train: tuple[list[float], list[float]]
    steps: tuple[list[float], list[float]]
    marks: list[float]


@dataclass
class RunPart:
    """Everything the report says about one run."""

    view: RunView
    result: Result
    layers: tuple[LayerSummary, ...]
    curves: Curves
    samples: list[SampleEvent]  # those shown, in order of iteration
    samples_left_out: int
    final: FinalSample | None
    final_problem: str  # why there is no final sample ("" when there is one)


@dataclass(frozen=True)
class Sweep:
    """An option whose numeric value differs between runs: each run's value of it, its
    best val loss and its series (the ladder rung it belongs to, "" for one series) —
    a point of the scatter each, in the runs' order."""

    option: str
    points: list[tuple[float, float, str]]

    def series(self) -> list[str]:
        return list(dict.fromkeys(s for _, _, s in self.points))

    def at_each_value(self, series: str | None = None) -> list[tuple[float, Stat]]:
        """The mean ± std at each value (of one series, or of all)."""
        mine = [(x, y) for x, y, s in self.points if series is None or s == series]
        return [(x, Stat.of([y for v, y in mine if v == x])) for x in sorted({v for v, _ in mine})]


def series_of(name: str) -> str:
    """The ladder rung a member belongs to (`lad/gpt-cpu+lr=0.003+s1338`: `gpt-cpu`), or
    "" for a run that is not one."""
    last = name.rsplit("/", 1)[-1]
    return last.split("+", 1)[0] if "+" in last else ""


def sweep_of(views: Sequence[RunView], rows: Sequence[Row], key: str) -> Sweep | None:
    """Best val loss against one option's numeric values, when some series holds two
    values of it or more (an option that differs only between rungs is no sweep)."""
    values = [{**v.model, **v.train}.get(key) for v in views]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
        return None
    points = [(float(x), r.val_loss, series_of(r.name))
              for x, r in zip(values, rows, strict=True) if r.val_loss is not None]  # fmt: skip
    swept = any(len({x for x, _, s in points if s == series}) > 1
                for series in {s for _, _, s in points})  # fmt: skip
    return Sweep(key, points) if swept else None


@dataclass
class Report:
    runs: list[RunPart]
    differences: list[tuple[str, list[str]]]  # option, its value in each run (only those
    corpus_warning: str | None  # that differ)
    chart: ChartOptions
    written: str  # when, as people read it
    notes: list[str] = field(default_factory=list)  # about the report itself
    groups: list[Group] = field(default_factory=list)  # seed groups, when some has replicas
    tests: list[Difference] = field(default_factory=list)  # each group against the first
    sweeps: list[Sweep] = field(default_factory=list)


MAX_SWEEPS = 4  # scatters: an architecture ladder differs in many options at once


def sweeps_of(
    views: Sequence[RunView], rows: Sequence[Row], differing: Sequence[str]
) -> list[Sweep]:
    """Of the options that differ, the learned ones whose numbers differ between three
    runs or more, within a series (a ladder rung) at least: each run's value against its
    best val loss."""
    if len(views) < 3:
        return []
    out = []
    for key in differing:
        if (
            key in NOT_LEARNED
            or key == "seed"
            or (key in MODEL_FIELDS and not all(used(v.model, key) for v in views))
        ):
            continue
        if (sweep := sweep_of(views, rows, key)) is not None:
            out.append(sweep)
    return out[:MAX_SWEEPS]


def shown_above(part: RunPart) -> bool:
    """The final sample is the last of the training's samples shown: not shown twice."""
    final, shown = part.final, part.samples
    return (
        final is not None
        and bool(shown)
        and final.text == shown[-1].text
        and (final.iter == shown[-1].iter)
    )


def report_views(paths: Sequence[Path]) -> list[RunView]:
    """Views of the runs named, with their curves and samples, read (as compare's, with
    the samples too)."""
    views = [RunView(p, label=label) for p, label in zip(paths, labels_for(paths), strict=True)]
    for view in views:
        view.update()
    return views


def _sum(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v) and v >= 0]
    return sum(finite) if finite else None


def result_of(view: RunView) -> Result:
    row = row_of(view)
    evals = view.evals
    t_train = _sum([e.t_train_s for e in evals])
    t_eval = _sum([e.t_eval_s for e in evals])
    per_iter = view.chars_per_iter
    speed = None
    if t_train and per_iter is not None and evals:
        speed = evals[-1].iter * per_iter / t_train
    batches = as_int(view.train.get("eval_iters"))
    on_batches = f"{batches} eval batches" if batches else "eval batches"
    best = view.best_val
    if best is None:
        val_on = "–"
    elif best.estimated:
        val_on = on_batches
    else:
        val_on = f"full val split ({best.positions:,} chars)"
    differs = config_differs(view) is not None and view.start is not None
    model = f"{row.model} (config.json differs)" if differs else shape_label(view.model)
    return Result(row, model, t_train, t_eval, speed, val_on, on_batches if evals else "–")


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def used(model: dict[str, Any], key: str) -> bool:
    """The model (config.json's model section) reads this option."""
    return key in MODEL_USES.get(str(model.get("model")), MODEL_FIELDS)


def differences(views: Sequence[RunView]) -> list[tuple[str, list[str]]]:
    """The options whose values are not the same in every run, with each run's value
    (the model's section first, then training's; steered values as they stand)."""
    if len(views) < 2:
        return []
    out: list[tuple[str, list[str]]] = []
    for section in ("model", "train"):
        tables = [v.model if section == "model" else v.train for v in views]
        keys: list[str] = []
        for table in tables:
            keys += [k for k in table if k not in keys]
        for key in keys:
            # An option the run's model does not read shows as –, not as its preset's value.
            values = [
                _shown(t.get(key)) if section == "train" or used(t, key) else "–" for t in tables
            ]
            if len(set(values)) > 1:
                out.append((key, values))
    rows = [row_of(v) for v in views]
    if len({r.corpus_sha256 for r in rows}) > 1:  # same --data, different text: say so
        out.append(("corpus", [corpus_label(r) for r in rows]))
    for name, values in differing([r.ran_with for r in rows]).items():  # where they ran
        out.append((f"ran with: {name}", [_shown(v) for v in values]))
    return out


def chosen_samples(samples: Sequence[SampleEvent], keep: int) -> tuple[list[SampleEvent], int]:
    """At most `keep` samples, spread over the run (its first and last always among
    them), and how many were left out."""
    if len(samples) <= keep:
        return list(samples), 0
    picks = sorted({round(i * (len(samples) - 1) / (keep - 1)) for i in range(keep)})
    return [samples[i] for i in picks], len(samples) - len(picks)


def curves_of(view: RunView, axis: XAxis) -> Curves:
    return Curves(
        run_curve(view, "val", axis),
        run_curve(view, "train", axis),
        run_curve(view, "loss", axis),
        steer_marks(view, axis),
    )


def build_report(
    views: Sequence[RunView],
    chart: ChartOptions,
    written: str,
    sample_finals: bool = True,
) -> Report:
    """The report of these runs (in this order). `sample_finals`: generate a final
    sample from best.pt where the run's last sample is older than its last iteration."""
    parts = []
    for view in views:
        final, problem = final_sample(view) if sample_finals else (None, "not asked for")
        shown, left_out = chosen_samples(view.samples, SAMPLES_KEPT)
        parts.append(
            RunPart(
                view=view,
                result=result_of(view),
                layers=view.start.layers if view.start is not None else (),
                curves=curves_of(view, chart.x),
                samples=shown,
                samples_left_out=left_out,
                final=final,
                final_problem=problem,
            )
        )
    rows = [p.result.row for p in parts]
    report = Report(parts, differences(views), corpus_warning(rows), chart, written)
    groups = group_rows(rows)
    if replicated(groups):
        report.groups, report.tests = groups, group_tests(groups)
    report.sweeps = sweeps_of(views, rows, [key for key, _ in report.differences])
    return report
