"""Health alerts: loss and gradient-norm spikes and non-finite losses, recorded, shown,
and acted on as --on-alert says (warn, pause, stop)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from charlm_tui.core.measures import SpikeWatch
from charlm_tui.core.runs.control import read_control, steer_run, write_control
from charlm_tui.core.runs.events import AlertEvent, DoneEvent, Event, NoteEvent, StepEvent
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.cli import run
from charlm_tui.tui.widgets.metrics import timing_text
from tests.train_helpers import Collect, new_training

STEER_AT = 120  # a tiny model's loss has settled by then; its moving average is warm


def test_a_spike_fires_once_per_excursion_after_the_warmup() -> None:
    watch = SpikeWatch(1.5, warmup=3, alpha=0.5)
    assert [watch.check(v) for v in (2.0, 9.0, 2.0)] == [None] * 3  # warming up: no alert
    watch = SpikeWatch(1.5, warmup=3, alpha=0.5)
    assert [watch.check(2.0) for _ in range(4)] == [None] * 4
    assert watch.check(10.0) == 2.0  # over 1.5 x its average 2: an alert, with the average
    assert watch.average == 2.5  # the spike counted only up to the line, 3
    assert watch.check(12.0) is None  # the same excursion: no second alert
    assert watch.check(2.0) is None  # back under the line: armed again
    assert watch.check(20.0) is not None
    assert SpikeWatch(0.0, warmup=0).check(1e9) is None  # off
    assert SpikeWatch(1.5, warmup=0).check(math.nan) is None


def spiked_run(corpus: Path, out: Path, on_alert: str, resume_after: bool = False) -> list[Event]:
    """A tiny run whose learning rate is steered 100x up at STEER_AT, through control.json
    as a dashboard or `steer` would; resume_after: lower it and resume once it paused."""
    training = new_training(
        corpus, out, max_iters=300, eval_interval=1000, sample_interval=0, on_alert=on_alert
    )

    def act(event: Event) -> None:
        if isinstance(event, StepEvent) and event.iter == STEER_AT:
            steer_run(out, lr_scale=100.0)
        paused = isinstance(event, NoteEvent) and event.text.startswith("paused")
        if resume_after and paused:  # as a person would: lower the rate, then resume
            steer_run(out, lr_scale=0.01)
            write_control(out, paused=False)

    events = Collect(act)
    training.run(events)
    return events.events


def alerts(events: list[Event]) -> list[AlertEvent]:
    return [e for e in events if isinstance(e, AlertEvent)]


def test_a_learning_rate_steered_100x_up_raises_a_loss_spike_alert(
    corpus_file: Path, tmp_path: Path
) -> None:
    events = spiked_run(corpus_file, tmp_path / "r", "warn")
    (alert, *_) = alerts(events)
    assert alert.kind == "loss spike" and alert.action == "warn"
    assert STEER_AT < alert.iter <= STEER_AT + 5 and alert.value > 1.5 * alert.baseline
    assert events[-1].reason == "finished"  # warn: training goes on
    view = RunView(tmp_path / "r")
    view.update()
    assert view.alerts and view.alerts[0].iter == alert.iter  # in the records
    shown = str(timing_text(view))
    assert f"⚠ @{alert.iter}: loss spike" in shown  # on the dashboard (and `watch`)


def test_pause_leaves_the_run_resumable_after_steering(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    events = spiked_run(corpus_file, out, "pause", resume_after=True)
    alert = alerts(events)[0]
    assert alert.action == "pause"
    notes = [e.text for e in events if isinstance(e, NoteEvent)]
    assert any(n.startswith("paused by an alert") for n in notes) and "resumed" in notes
    done = events[-1]
    assert isinstance(done, DoneEvent) and done.reason == "finished" and done.iter == 300
    assert read_control(out)["paused"] is False


def test_stop_ends_the_run_with_exit_code_1(corpus_file: Path, tmp_path: Path) -> None:
    events = spiked_run(corpus_file, tmp_path / "r", "stop")
    done = events[-1]
    assert isinstance(done, DoneEvent) and done.reason == "stopped" and done.exit_code == 1
    assert "loss spike" in done.message and done.iter < 300
    assert (tmp_path / "r" / "last.pt").is_file()  # saved, resumable


def test_a_non_finite_loss_is_an_alert_and_always_stops(
    tiny_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--lr", "1e6", "--min-lr", "0", "--out",
                str(out)]) == 1  # fmt: skip
    view = RunView(out)
    view.update()
    assert [a.kind for a in view.alerts] == ["non-finite"] and view.alerts[0].action == "stop"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--on-alert", "panic"], "--on-alert"),
        (["--alert-loss-ratio", "0.5"], "--alert-loss-ratio must be 0 (off) or in (1, 1e6]"),
        (["--alert-grad-ratio", "-1"], "--alert-grad-ratio must be 0 (off)"),
    ],
)
def test_bad_alert_options_are_one_line(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    args: list[str], says: str,
) -> None:  # fmt: skip
    assert run(["--no-ui", "train", *tiny_args, "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err
