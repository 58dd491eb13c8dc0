"""Steering a live run's hyperparameters: recorded, kept by --resume, exact.

The learning rate's scale, the length, the eval and sample intervals, the samples'
temperature; from control.json (the dashboard's keys) or `charlm-tui steer`."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
import torch

from charlm_tui.core.models.checkpoint import load_checkpoint
from charlm_tui.core.runs.control import read_control, write_control
from charlm_tui.core.runs.events import SampleEvent, SteerEvent, StepEvent
from charlm_tui.core.runs.records import read_records
from charlm_tui.core.runs.rundir import RunLock
from charlm_tui.core.training.optim import learning_rate
from charlm_tui.tui.cli import run
from tests.train_helpers import Collect, new_training, resumed_training
from tests.waiting import wait_until

OPTS = dict(max_iters=20, eval_interval=5, sample_interval=5, sample_chars=15, dropout=0.1)
STEER = dict(lr_scale=2.0, eval_interval=3, sample_temperature=1.3, max_iters=30)


def steer_at(out: Path, it: int):
    def write(event) -> None:
        if isinstance(event, StepEvent) and event.iter == it:
            write_control(out, **STEER)

    return write


def test_a_steered_run_stops_and_resumes_bit_identical(corpus_file: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    straight = new_training(corpus_file, a, **OPTS)
    assert straight.run(Collect(steer_at(a, 5))).iter == 30  # extended from 20

    first = new_training(corpus_file, b, **OPTS)
    stop_at_12 = first.stop_when(lambda e: isinstance(e, StepEvent) and e.iter == 12)
    assert first.run(Collect(steer_at(b, 5)), stop_at_12).iter == 12
    second = resumed_training(b)  # with the values in force: steered, not the originals
    assert second.trainer.tcfg.lr_scale == 2.0 and second.trainer.tcfg.max_iters == 30
    assert second.run().iter == 30

    wa, wb = (load_checkpoint(r / "last.pt")["model"] for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    texts = [[e.text for e in read_records(r / "samples.jsonl")] for r in (a, b)]
    assert texts[0] == texts[1]
    steers = [e for e in read_records(a / "metrics.jsonl") if isinstance(e, SteerEvent)]
    assert {(e.iter, e.field, e.new) for e in steers} == {
        (5, "lr_scale", 2.0),
        (5, "eval_interval", 3),
        (5, "sample_temperature", 1.3),
        (5, "max_iters", 30),
    }
    assert [e.old for e in steers if e.field == "lr_scale"] == [1.0]
    samples = [e for e in read_records(a / "samples.jsonl") if isinstance(e, SampleEvent)]
    assert [s.temperature for s in samples if s.iter > 5][:1] == [1.3]
    config = json.loads((a / "config.json").read_text())
    assert config["train"]["max_iters"] == 30  # the dashboard shows the new length


def test_the_lr_scale_scales_the_whole_schedule() -> None:
    from charlm_tui.core.config import build_configs, replace

    _, cfg = build_configs("tiny", dict(max_iters=100, warmup_iters=10))
    doubled = replace(cfg, lr_scale=2.0)
    for it in (0, 5, 50, 99):
        assert learning_rate(doubled, it, 0) == pytest.approx(2 * learning_rate(cfg, it, 0))


@pytest.fixture()
def live_run(corpus_file: Path, tmp_path: Path):
    """A training going on in this process, on a thread (steer needs a live lock)."""
    out = tmp_path / "live"
    training = new_training(corpus_file, out, max_iters=100_000, eval_interval=1000)
    done = {}
    thread = threading.Thread(target=lambda: done.update(event=training.run()), daemon=True)
    thread.start()
    wait_until(
        lambda: RunLock.held(out) and (out / "control.json").exists(),
        "the training to hold its run's lock and write control.json",
    )
    yield out, training
    training.steering.request_stop()
    thread.join(timeout=60)


def test_steer_from_a_shell(live_run, capsys) -> None:
    out, training = live_run
    assert run(["steer", str(out), "--lr-scale", "0.5", "--extend", "10"]) == 0
    assert "lr_scale: 1.0 -> 0.5" in capsys.readouterr().out
    wait_until(lambda: training.trainer.tcfg.lr_scale == 0.5, "the trainer to take lr_scale 0.5")
    assert training.trainer.tcfg.max_iters == 110_000
    assert run(["steer", str(out), "--lr-scale", "0.5"]) == 0  # relative to what is in force
    assert read_control(out)["lr_scale"] == 0.25


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr-scale", "0"], "--lr-scale must be a finite number above 0"),
        (["--lr-scale", "-2"], "--lr-scale must be a finite number above 0"),
        (["--lr-scale", "nan"], "--lr-scale must be a finite number above 0"),
        (["--lr-scale", "inf"], "--lr-scale must be a finite number above 0"),
        (["--lr-scale", "1e9"], "--lr-scale must be in"),
        (["--eval-interval", "0"], "--eval-interval must be in"),
        (["--sample-interval", "-1"], "--sample-interval must be in"),
        (["--sample-temperature", "11"], "--sample-temperature must be in"),
        (["--sample-temperature", "nan"], "--sample-temperature must be in"),
        (["--extend", "-100"], "--extend must be a percentage above -100"),
        (["--pause", "--resume"], "contradict"),
        ([], "nothing to change"),
    ],
)
def test_every_bad_steer_is_refused_and_changes_nothing(live_run, args, message, capsys) -> None:
    out, _ = live_run
    before = (out / "control.json").read_bytes()
    assert run(["steer", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert (out / "control.json").read_bytes() == before


def test_steer_refuses_when_nothing_trains(corpus_file: Path, tmp_path: Path, capsys) -> None:
    assert run(["steer", str(tmp_path), "--pause"]) == 2
    assert "not a run directory" in capsys.readouterr().err
    new_training(corpus_file, tmp_path / "done", max_iters=3).run()
    assert run(["steer", str(tmp_path / "done"), "--lr-scale", "2"]) == 2
    assert "nothing trains in" in capsys.readouterr().err


def test_a_bad_steer_in_the_file_is_a_note_and_changes_nothing(corpus_file, tmp_path) -> None:
    out = tmp_path / "run"
    training = new_training(corpus_file, out, max_iters=15, eval_interval=5)

    def spoil(event) -> None:
        if isinstance(event, StepEvent) and event.iter == 3:
            data = json.loads((out / "control.json").read_text())
            (out / "control.json").write_text(json.dumps({**data, "lr_scale": -1}))

    training.run(Collect(spoil))
    assert training.trainer.tcfg.lr_scale == 1.0
    assert not any(isinstance(e, SteerEvent) for e in read_records(out / "metrics.jsonl"))
    assert math.isclose(training.trainer.tcfg.lr, 3e-3)


def test_a_save_while_paused_after_a_sample_resumes_exactly(corpus_file, tmp_path) -> None:
    """Paused at a sample's iteration, saved after that sample, stopped, resumed: the
    samples (drawn from their own RNG, saved in the checkpoint) match a straight run."""
    from charlm_tui.core.runs.events import CheckpointEvent

    opts = dict(max_iters=20, eval_interval=7, sample_interval=10, sample_chars=12)
    new_training(corpus_file, tmp_path / "a", **opts).run()
    out = tmp_path / "b"
    first = new_training(corpus_file, out, **opts)

    def script(event) -> None:
        if isinstance(event, StepEvent) and event.iter == 10:
            write_control(out, paused=True)  # decided before sample 10: paused at 10
        elif isinstance(event, SampleEvent) and event.iter == 10:
            write_control(out, save=1)  # saved after the sample
        elif isinstance(event, CheckpointEvent) and event.iter == 10 and event.kind == "last":
            write_control(out, stop=True)

    assert first.run(Collect(script)).reason == "stopped"
    assert resumed_training(out).run().iter == 20
    texts = [[e.text for e in read_records(r / "samples.jsonl")] for r in (tmp_path / "a", out)]
    assert len(texts[0]) == 3 and texts[0] == texts[1]
