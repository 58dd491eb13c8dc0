"""Curves and axes (EMA, interpolation, ticks) and the dashboard's loss chart."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charlm_tui.core.runs.events import StepEvent
from charlm_tui.core.runs.listing import load_runs
from charlm_tui.core.runs.rundir import METRICS
from charlm_tui.core.runs.view import MAX_STEP_POINTS, RunRecords
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.curves import ema, run_curve, value_at
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.widgets.loss_chart import (
    CurvePlot,
    LossChart,
    downsample,
    log_ticks,
    nice_ticks,
    one_per_row,
    y_labels,
)
from tests.tui_helpers import dashboard_drawn, fake_run
from tests.waiting import wait_for


def scenario(coro) -> None:
    asyncio.run(coro)


# -- curves and axes ----------------------------------------------------------------------


def test_ema_is_raw_at_zero_debiased_and_flat_on_a_constant() -> None:
    ys = [4.0, 3.0, 2.5, 2.0]
    assert ema(ys, 0.0) == ys
    smooth = ema(ys, 0.9)
    assert smooth[0] == pytest.approx(4.0)  # debiased: the first point is not dragged to 0
    assert all(a >= b for a, b in itertools.pairwise(smooth))
    assert ema([1.5] * 50, 0.99) == pytest.approx([1.5] * 50)


def test_value_at_interpolates_inside_and_is_none_outside() -> None:
    xs, ys = [0.0, 10.0, 20.0], [4.0, 2.0, 1.0]
    assert value_at(xs, ys, 5.0) == pytest.approx(3.0)
    assert value_at(xs, ys, 20.0) == 1.0
    assert value_at(xs, ys, 0.0) == 4.0
    assert value_at(xs, ys, 21.0) is None and value_at([], [], 1.0) is None


def test_curves_against_iterations_characters_and_seconds(tmp_path: Path) -> None:
    (run_,) = load_runs([fake_run(tmp_path, "a", iters=200)])
    per_iter = run_.chars_per_iter
    assert per_iter == 16 * 32  # the tiny preset's batch x block
    xs_iter, val = run_curve(run_, "val", "iter")
    assert xs_iter == [0.0, 100.0, 200.0] and val[0] > val[-1]
    xs_chars, _ = run_curve(run_, "val", "chars")
    assert xs_chars == [x * per_iter for x in xs_iter]
    xs_s, _ = run_curve(run_, "val", "seconds")
    assert xs_s == pytest.approx([0.0, 1.0, 2.0])
    steps, lr = run_curve(run_, "lr", "iter")
    assert len(steps) == 20 and set(lr) == {3e-3}


def test_axis_ticks_are_whole_iterations_and_round_values() -> None:
    ticks = nice_ticks(0, 170, 4, integer=True)
    assert ticks == [0, 50, 100, 150] and all(float(t).is_integer() for t in ticks)
    assert nice_ticks(0, 3, 10, integer=True) == [0, 1, 2, 3]  # never 0.5 iterations
    assert y_labels([1.5, 2.0, 2.5]) == ["1.5", "2.0", "2.5"]
    assert y_labels([0.0, 0.001, 0.002]) == ["0e+00", "1e-03", "2e-03"]
    assert log_ticks(0.01, 10, 4) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]
    assert log_ticks(1.6, 4.2, 4) == [2, 3, 4]  # less than a decade: round linear values
    assert y_labels([0.95, 1.05]) == ["0.95", "1.05"]  # each tick written exactly
    # Two ticks in one row of a 2-row plot would overlap: one a row.
    assert one_per_row([0.95, 1.0, 1.05], float, 0.95, 1.05, 2) == [0.95, 1.05]


# -- the dashboard's chart ----------------------------------------------------------------


def test_dashboard_chart_keys_work_without_focusing_it(tmp_path: Path) -> None:
    path = fake_run(tmp_path, "run", iters=400)

    async def go() -> None:
        app = CharLMApp(watch=path)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
            chart = app.screen.query_one(LossChart)
            assert not chart.has_focus_within
            await pilot.press("l", "x", "right_parenthesis", "v")
            assert chart.log_y and chart.x_axis == "chars" and chart.smoothing == 0.6
            assert chart.second == "grad_norm" and chart.has_class("-tall")
            assert "smooth 0.6" in str(chart.border_title)
            legend = str(chart.query_one("#loss-legend").render())
            assert "val" in legend and "train" in legend

    scenario(go())


def test_no_axes_before_the_first_step(tmp_path: Path) -> None:
    run_dir = tmp_path / "new"
    run_dir.mkdir()
    (run_dir / METRICS).write_text("")

    async def go() -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
            await wait_for(pilot, lambda: dashboard_drawn(app.screen), "the dashboard drawn")
            plot = app.screen.query_one("#loss-plot", CurvePlot)
            shown = str(plot.render())
            assert "waiting for the first steps" in shown and "1.00" not in shown

    scenario(go())


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=3000),
    st.integers(min_value=2, max_value=400),
)
def test_downsampling_keeps_every_bucket_extreme(ys: list[float], n: int) -> None:
    """At most n points, and a spike anywhere survives: the lowest and highest value of
    every bucket are among the points drawn, so the curve's own min and max are too."""
    xs = [float(i) for i in range(len(ys))]
    dx, dy = downsample(xs, ys, n)
    assert len(dx) == len(dy) <= max(n, len(ys) if len(ys) <= n else n)
    assert min(dy) == min(ys) and max(dy) == max(ys)
    if len(ys) > n:
        buckets = n // 2
        size = len(ys) / buckets
        for i in range(buckets):
            seg = ys[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
            assert min(seg) in dy and max(seg) in dy
    assert dx == sorted(dx)  # still a curve from left to right


def test_a_long_run_thins_its_steps_keeping_the_spikes() -> None:
    """Past MAX_STEP_POINTS step records a run keeps about half, the loss's extremes
    among them: a spike at any iteration is still on the chart of a 1M-step run."""
    records = RunRecords()
    spikes = {7: 9.5, 23_456: 8.0, 61_001: 0.01}
    for it in range(1, 4 * MAX_STEP_POINTS):
        loss = spikes.get(it, 2.0 + (it % 7) * 0.01)
        records._apply(StepEvent(it, loss, 1e-3, 0.5, 0.01, 1e4, it * 0.01, 0.5, 1.0))
    kept = {s.iter: s.loss for s in records.steps}
    assert len(records.steps) <= MAX_STEP_POINTS
    assert all(kept.get(it) == loss for it, loss in spikes.items())
    assert [s.iter for s in records.steps] == sorted(kept)


def test_ticks_label_any_range_at_least_twice() -> None:
    for lo, hi, n in itertools.product(
        (7.05, -3.2, 0.001, 1.6), (0.42, 0.07, 3.3, 250.0), (1, 2, 3)
    ):
        ticks = nice_ticks(lo, lo + hi, n)
        assert len(ticks) >= 2, (lo, hi, n, ticks)
        assert all(lo <= t <= lo + hi + 1e-9 for t in ticks), (lo, hi, n, ticks)


def test_a_narrow_loss_range_keeps_its_y_axis_numbers_at_80x24(tmp_path: Path) -> None:
    """A large-vocabulary corpus (Japanese) can train in a narrow band of high losses."""
    path = fake_run(tmp_path, "narrow", iters=400)
    records = [json.loads(line) for line in (path / METRICS).read_text().splitlines()]
    for rec in records:  # the fake run's losses (1.6 to 4.3) into 7.05 to 7.47
        for key in [k for k, v in rec.items() if k.endswith("loss") and isinstance(v, float)]:
            rec[key] = 7.05 + (rec[key] - 1.6) / 2.7 * 0.42
    (path / METRICS).write_text("".join(json.dumps(r) + "\n" for r in records))

    async def go() -> None:
        app = CharLMApp(watch=path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: dashboard_drawn(app.screen), "the dashboard drawn")
            plot = app.screen.query_one("#loss-plot", CurvePlot)
            await wait_for(pilot, lambda: "┤" in str(plot.render()), "the chart's axes")
            labels = re.findall(r"(\d+\.\d+)\s*┤", str(plot.render()))
            assert len(set(labels)) >= 2, str(plot.render())

    scenario(go())
