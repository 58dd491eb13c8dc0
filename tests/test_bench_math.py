"""The arithmetic of the benchmark scripts: deterministic, no training."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from _nanogpt import encode, lr_at, lr_at_fraction, split
from gpu_speedrun import compile_seconds, report, result
from startup import parse_importtime
from vs_nanogpt import Crossing, crossing_time, describe_speedup

from charlm_tui.core.text.corpus import split_point


def test_crossing_interpolates_in_log_time() -> None:
    # 1.70 at 75 s, 1.50 at 300 s: 1.60 is halfway in log time, at sqrt(75 * 300) = 150 s.
    points = [(300.0, 1.50), (150.0, 1.58), (75.0, 1.70), (40.0, 1.80)]
    c = crossing_time([(75.0, 1.70), (300.0, 1.50)], 1.60)
    assert c.kind == "interpolated"
    assert c.seconds == pytest.approx(150.0)
    c = crossing_time(points, 1.64)  # between 75 s (1.70) and 150 s (1.58): half of 1.64
    assert c.kind == "interpolated"
    assert c.seconds == pytest.approx(75.0 * 2**0.5)
    assert describe_speedup(300.0, c) == f"{300 / (75 * 2**0.5):.3g}x (at {75 * 2**0.5:.3g} s)"


def test_crossing_on_a_budget_is_that_budget() -> None:
    c = crossing_time([(40.0, 1.8), (75.0, 1.7), (150.0, 1.6)], 1.7)
    assert c.kind == "interpolated"
    assert c.seconds == pytest.approx(75.0)


def test_noisy_points_give_the_later_crossing() -> None:
    # 75 s dips under the target, 150 s is back above: the crossing counted is 150 -> 300.
    points = [(40.0, 1.80), (75.0, 1.62), (150.0, 1.66), (300.0, 1.55)]
    c = crossing_time(points, 1.64)
    assert c.kind == "interpolated"
    assert 150.0 < c.seconds < 300.0


def test_not_reached() -> None:
    c = crossing_time([(40.0, 1.9), (300.0, 1.7)], 1.6)
    assert c == Crossing("not reached", None)
    assert describe_speedup(300.0, c) == "not reached"


def test_smallest_budget_already_better_extrapolates_with_a_bound() -> None:
    # 1.50 at 40 s and 1.40 at 80 s: the line reaches 1.55 at 40 / sqrt(2) s.
    c = crossing_time([(80.0, 1.40), (40.0, 1.50)], 1.55)
    assert c.kind == "extrapolated"
    assert c.bound == 40.0
    assert c.seconds == pytest.approx(40.0 / 2**0.5)
    text = describe_speedup(300.0, c)
    assert text.startswith(">= 7.5x")
    assert f"{300 / (40 / 2**0.5):.3g}x" in text


def test_extrapolation_needs_a_falling_loss() -> None:
    c = crossing_time([(40.0, 1.50), (80.0, 1.52)], 1.55)  # noise: no slope to follow
    assert c == Crossing("extrapolated", None, 40.0)
    assert describe_speedup(300.0, c) == ">= 7.5x"


def test_crossing_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        crossing_time([], 1.5)
    with pytest.raises(ValueError):
        crossing_time([(0.0, 1.5)], 1.5)


def test_lr_schedule() -> None:
    assert lr_at(0, 1e-3, 1e-4, 100, 1000) == pytest.approx(1e-3 / 101)
    assert lr_at(99, 1e-3, 1e-4, 100, 1000) == pytest.approx(1e-3 * 100 / 101)
    assert lr_at(100, 1e-3, 1e-4, 100, 1000) == pytest.approx(1e-3)
    assert lr_at(550, 1e-3, 1e-4, 100, 1000) == pytest.approx(5.5e-4)
    assert lr_at(1000, 1e-3, 1e-4, 100, 1000) == pytest.approx(1e-4)
    assert lr_at(5000, 1e-3, 1e-4, 100, 1000) == pytest.approx(1e-4)


@pytest.mark.parametrize("n", [1, 9, 10, 11, 1_115_394])
def test_baseline_split_is_charlm_tuis(n: int) -> None:
    train, val = split(np.arange(n))
    assert len(train) == split_point(n, 0.1)
    assert len(train) + len(val) == n


def test_encode_round_trips() -> None:
    text = "First Citizen:\nBefore we proceed, hear me speak. é!"
    chars, ids = encode(text)
    assert chars == "".join(sorted(set(text)))
    assert "".join(chars[i] for i in ids) == text


def test_parse_importtime() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   _io\n"
        "import time:      2000 |      15000 | torch\n"
        "some other line\n"
    )
    assert parse_importtime(stderr) == [(120, 120, 1, "_io"), (15000, 2000, 0, "torch")]


def test_speedrun_compile_time_weighs_each_chunk_by_its_steps() -> None:
    """On a GPU a step record comes every --log-interval steps with the MEAN step time of
    its chunk: the first chunk of 10 steps at 1.0 s mean (one 9.1-s compile) over a steady
    0.1 s is 9 s of compile, and a later chunk at 6x the median is a recompile."""
    chunks = [(10, 1.0), (10, 0.1), (10, 0.1), (10, 0.1)]
    assert compile_seconds(chunks) == pytest.approx(9.0)
    assert compile_seconds([*chunks, (10, 0.6)]) == pytest.approx(9.0 + 10 * 0.5)
    assert compile_seconds([(1, 2.0)]) == 0.0  # one chunk: nothing steady to compare with
    assert compile_seconds([]) == 0.0


def test_speedrun_report_ratios_and_the_time_to_the_baselines_best() -> None:
    def side(label: str, checks: list[tuple[int, float, float]], compile_s: float) -> dict:
        cs = [{"iter": i, "steps_s": t, "val": v} for i, t, v in checks]
        return {**result(label, cs, compile_s, 1.47, []), "process_s": 1.0}

    a = side("A (A)", [(100, 20.0, 1.6), (200, 30.0, 1.46)], 10.0)
    b = side("B (B)", [(100, 15.0, 1.5), (200, 20.0, 1.45)], 10.0)
    c = side("C (B2)", [(100, 15.0, 1.5), (200, 20.0, 1.48)], 10.0)
    rows = {line.split("|")[1].strip(): line for line in report([a, b, c], 1.47).splitlines()}
    assert "2.00x / 1.50x" in rows["B (B)"]  # 20 s of training against 10, 30 s against 20
    assert "1.50x (200)" in rows["B (B)"]  # A's best (1.46 at 30 s) reached at 20 s
    assert "not reached (200)" in rows["C (B2)"] and "| -" in rows["C (B2)"]


def test_time_keyed_schedule_warms_up_by_steps_then_decays_over_the_budget() -> None:
    assert lr_at_fraction(0, 0.0, 1e-3, 1e-4, 100) == pytest.approx(1e-3 / 101)
    assert lr_at_fraction(100, 0.0, 1e-3, 1e-4, 100) == pytest.approx(1e-3)
    assert lr_at_fraction(500, 0.5, 1e-3, 1e-4, 100) == pytest.approx(5.5e-4)
    assert lr_at_fraction(900, 1.0, 1e-3, 1e-4, 100) == pytest.approx(1e-4)
    assert lr_at_fraction(950, 1.3, 1e-3, 1e-4, 100) == pytest.approx(1e-4)  # past it


class FakeSide:
    """A side that trains `work` seconds of a fake clock while resumed."""

    def __init__(self, name: str, work: float, log: list[tuple[str, str]]) -> None:
        self.name, self.left, self.log = name, work, log
        self.running = False

    def start(self) -> None:
        self.log.append(("start", self.name))

    def resume(self) -> None:
        self.log.append(("resume", self.name))
        self.running = True

    def pause(self) -> None:
        self.log.append(("pause", self.name))
        self.running = False

    def finished(self) -> bool:
        return self.left <= 0

    def kill(self) -> None:
        self.log.append(("kill", self.name))
        self.left = 0.0


def test_sides_run_in_turns_one_at_a_time_until_each_is_done() -> None:
    from _turns import run_in_turns

    log: list[tuple[str, str]] = []
    now = [0.0]
    sides = [FakeSide("a", 25.0, log), FakeSide("b", 8.0, log)]

    def sleep(dt: float) -> None:
        running = [s for s in sides if s.running]
        assert len(running) <= 1, "two sides trained at once"
        for s in running:
            s.left -= dt
            if s.left <= 0:
                s.running = False  # the process exits
        now[0] += dt

    finished: list[str] = []
    slices = run_in_turns(
        sides, 10.0, on_finish=lambda s: finished.append(s.name), clock=lambda: now[0], sleep=sleep
    )
    assert slices == {"a": 3, "b": 1}
    assert finished == ["b", "a"]
    assert log[:2] == [("start", "a"), ("start", "b")]  # every side set up before any slice
    turns = [e for e in log[2:] if e[0] == "resume"]
    assert turns == [("resume", "a"), ("resume", "b"), ("resume", "a"), ("resume", "a")]
    # a side that finished in its slice is not paused; the others are, after each slice
    assert ("pause", "b") not in log
    assert log.count(("pause", "a")) == 2
    assert now[0] == pytest.approx(33.0, abs=0.1)  # 25 + 8 s of training, no gaps (a poll)


def test_a_failed_run_in_turns_kills_every_side() -> None:
    """A paused trainer left behind would wait for its turn for ever."""
    from _turns import run_in_turns

    log: list[tuple[str, str]] = []
    sides = [FakeSide("a", 25.0, log), FakeSide("b", 8.0, log)]

    def interrupted(dt: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_turns(sides, 10.0, clock=lambda: 0.0, sleep=interrupted)
    assert ("kill", "a") in log and ("kill", "b") in log
