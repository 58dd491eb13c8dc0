"""The training loop: events and run files, eval, divergence, stops, resumes, time budgets."""

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from charlm_tui.core.config import build_configs
from charlm_tui.core.decoding.evaluate import estimate
from charlm_tui.core.models.checkpoint import load_checkpoint
from charlm_tui.core.runs.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    SampleEvent,
    StartEvent,
    StepEvent,
    record_of,
)
from charlm_tui.core.runs.records import dump_json, read_records
from charlm_tui.core.training import clock as clock_module
from charlm_tui.core.training.optim import learning_rate
from tests.train_helpers import Collect, Training, new_training, resumed_training


def trainer_for(corpus_file: Path, run_dir: Path | None, **over) -> Training:
    values = dict(
        max_iters=30, eval_interval=10, sample_interval=15, sample_chars=20, log_interval=1
    )
    values.update(over)
    return new_training(corpus_file, run_dir, **values)


def stamped_out(event) -> str:
    """An event's stored form without its write time (NaN compares equal as null)."""
    return dump_json(record_of(dataclasses.replace(event, time=None)))


def records(path: Path, kind: type) -> list:
    return [e for e in read_records(path) if isinstance(e, kind)]


def test_learning_rate_schedule() -> None:
    _, cfg = build_configs("tiny", dict(max_iters=110, warmup_iters=10, lr=1e-3, min_lr=1e-4))
    assert learning_rate(cfg, 0, 0) < learning_rate(cfg, 5, 0) < 1e-3
    assert learning_rate(cfg, 10, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 60, 0) == pytest.approx(5.5e-4)
    assert learning_rate(cfg, 110, 0) == pytest.approx(1e-4)
    _, budget = build_configs("tiny", dict(time_budget=100.0, warmup_iters=0, lr=1e-3, min_lr=1e-4))
    assert learning_rate(budget, 500, 0.5) == pytest.approx(5.5e-4)  # follows time spent
    assert learning_rate(budget, 900, 1.0) == pytest.approx(1e-4)


def test_events_in_order_and_run_directory_files(corpus_file: Path, tmp_path: Path) -> None:
    trainer = trainer_for(corpus_file, tmp_path / "run")
    sink = Collect()
    done = trainer.run(sink)
    kinds = [type(e) for e in sink.events]
    assert kinds[0] is StartEvent and kinds[-1] is DoneEvent
    assert done.reason == "finished" and done.iter == 30
    assert [e.iter for e in sink.events if isinstance(e, EvalEvent)] == [0, 10, 20, 30]
    assert [e.iter for e in sink.events if isinstance(e, SampleEvent)] == [0, 15, 30]
    assert [e.iter for e in sink.events if isinstance(e, StepEvent)] == list(range(1, 31))
    assert {e.kind for e in sink.events if isinstance(e, CheckpointEvent)} == {"best", "last"}

    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {
        "config.json",
        "metrics.jsonl",
        "samples.jsonl",
        "last.pt",
        "best.pt",
    }
    evals = records(run / "metrics.jsonl", EvalEvent)
    assert [e.iter for e in evals] == [0, 10, 20, 30]  # read back typed, as written
    emitted = [e for e in sink.events if isinstance(e, EvalEvent)]
    assert [stamped_out(e) for e in evals] == [stamped_out(e) for e in emitted]
    assert all(e.time is not None and e.elapsed_s >= 0 and e.tokens_per_s >= 0 for e in evals)
    assert all(0.0 <= e.val.top1 <= e.val.top5 <= 1.0 for e in evals)
    assert evals[-1].val.loss < evals[0].val.loss  # it learned something
    samples = records(run / "samples.jsonl", SampleEvent)
    assert [s.iter for s in samples] == [0, 15, 30] and all(len(s.text) == 20 for s in samples)
    best = load_checkpoint(run / "best.pt")
    assert best["best_val_loss"] == min(e.val.loss for e in evals)


def test_eval_never_runs_with_dropout_or_grad_and_training_never_without(
    corpus_file: Path,
) -> None:
    training = trainer_for(corpus_file, None, dropout=0.5, max_iters=20)
    calls: list[tuple[bool, bool]] = []
    training.trainer.model.register_forward_pre_hook(
        lambda m, args: calls.append((m.training, torch.is_grad_enabled()))
    )
    training.run()
    assert calls and set(calls) == {(True, True), (False, False)}
    assert training.trainer.model.training


def test_eval_metrics_are_those_of_the_saved_weights(corpus_file: Path, tmp_path: Path) -> None:
    training = trainer_for(corpus_file, tmp_path / "run", dropout=0.3, max_iters=20)
    training.run()
    last = records(tmp_path / "run" / "metrics.jsonl", EvalEvent)[-1]
    model = training.trainer.model
    model.load_state_dict(load_checkpoint(tmp_path / "run" / "last.pt")["model"])
    again = estimate(model, training.trainer.eval_batches["val"])
    assert again.loss == pytest.approx(last.val.loss, abs=1e-6)


def test_divergence_stops_before_the_step_and_writes_no_bad_weights(
    corpus_file: Path, tmp_path: Path
) -> None:
    trainer = trainer_for(
        corpus_file,
        tmp_path / "run",
        lr=1e6,
        min_lr=1e5,
        warmup_iters=0,
        grad_clip=0.0,
        max_iters=200,
    )
    done = trainer.run()
    assert done.reason == "diverged"
    assert f"iteration {done.iter + 1}" in done.message
    for name in ("best.pt", "last.pt"):
        ckpt = load_checkpoint(tmp_path / "run" / name)
        assert all(torch.isfinite(t).all() for t in ckpt["model"].values())
    assert load_checkpoint(tmp_path / "run" / "best.pt")["iter"] == 0


def test_stop_request_saves_last_checkpoint(corpus_file: Path, tmp_path: Path) -> None:
    training = trainer_for(corpus_file, tmp_path / "run", max_iters=100)
    done = training.run(training.stop_when(lambda e: isinstance(e, StepEvent) and e.iter == 7))
    assert done.reason == "interrupted" and done.iter == 7
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iter"] == 7


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_resume_is_exact(corpus_file: Path, tmp_path: Path, optimizer: str) -> None:
    opts = dict(dropout=0.1, max_iters=20, eval_interval=5, sample_interval=5, optimizer=optimizer)
    trainer_for(corpus_file, tmp_path / "a", **opts).run()

    first = trainer_for(corpus_file, tmp_path / "b", **opts)
    assert (
        first.run(first.stop_when(lambda e: isinstance(e, StepEvent) and e.iter == 10)).iter == 10
    )
    second = resumed_training(tmp_path / "b", max_iters=20)
    assert second.trainer.state.iter == 10
    assert second.run().reason == "finished"

    a = load_checkpoint(tmp_path / "a" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    def evals(run: str) -> list:
        return [
            (e.iter, e.train, e.val) for e in records(tmp_path / run / "metrics.jsonl", EvalEvent)
        ]

    assert evals("a") == evals("b")
    texts = [[s.text for s in records(tmp_path / r / "samples.jsonl", SampleEvent)] for r in "ab"]
    assert texts[0] == texts[1]


class StepClock:
    """A fake clock for the training's: time.perf_counter, which the training clock reads
    (core/training/clock.py), stands still but for STEP_S more at every step record. A
    run by time then takes a number of steps that no machine's speed changes."""

    STEP_S = 0.125  # a power of two: its sums are exact, so budgets end on a step

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        monkeypatch.setattr(clock_module.time, "perf_counter", lambda: self.now)

    def handle(self, event) -> None:
        if isinstance(event, StepEvent):
            self.now += self.STEP_S

    def close(self) -> None:
        pass


@pytest.fixture()
def step_clock(monkeypatch: pytest.MonkeyPatch) -> StepClock:
    return StepClock(monkeypatch)


def test_time_budget_stops_on_time(corpus_file: Path, step_clock: StepClock) -> None:
    trainer = trainer_for(corpus_file, None, time_budget=1.5, max_iters=None)
    sink = Collect()
    done = trainer.run(step_clock, sink)
    assert done.reason == "finished"
    assert done.elapsed_s == 1.5 and done.iter == 12  # 1.5 s of 0.125 s steps: no more
    assert [e.iter for e in sink.events if isinstance(e, StepEvent)] == list(range(1, 13))
    assert math.isfinite(done.best_val_loss)


def test_a_second_training_on_the_same_run_is_refused(corpus_file: Path, tmp_path: Path) -> None:
    from charlm_tui.core.errors import CharLMError
    from charlm_tui.core.runs.listing import run_view
    from charlm_tui.core.runs.rundir import RunLock

    first = trainer_for(corpus_file, tmp_path / "run", max_iters=10)

    def second_training(event) -> None:
        if isinstance(event, StartEvent):
            assert RunLock.held(tmp_path / "run")
            with pytest.raises(CharLMError, match="in use by another training process"):
                trainer_for(corpus_file, tmp_path / "run", max_iters=10, overwrite=True).run()

    first.run(Collect(second_training))
    assert not RunLock.held(tmp_path / "run")
    assert run_view(tmp_path / "run").status == "finished"


def test_compile_falls_back_to_eager_with_a_note(corpus_file: Path, monkeypatch) -> None:
    from charlm_tui.core.runs.events import NoteEvent

    def broken_compile(model):
        def compiled(*args, **kwargs):
            raise RuntimeError("InductorError: no working C compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    trainer = trainer_for(corpus_file, None, max_iters=10, compile=True)
    sink = Collect()
    done = trainer.run(sink)
    assert done.reason == "finished" and done.iter == 10
    notes = [e for e in sink.events if isinstance(e, NoteEvent)]
    assert len(notes) == 1 and "no working C compiler" in notes[0].text


def test_resume_from_best_is_an_explicit_choice(corpus_file: Path, tmp_path: Path) -> None:
    trainer = trainer_for(corpus_file, tmp_path / "run", max_iters=100, eval_interval=10)
    # A stop saves last.pt without an eval: best stays at 20.
    trainer.run(trainer.stop_when(lambda e: isinstance(e, StepEvent) and e.iter == 25))
    best_iter = load_checkpoint(tmp_path / "run" / "best.pt")["iter"]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iter"] == 25
    again = resumed_training(tmp_path / "run", "best", max_iters=25)
    assert again.trainer.state.iter == best_iter == 20
    again.run()


def test_time_budget_resume_spends_only_what_is_left(
    corpus_file: Path, tmp_path: Path, step_clock: StepClock
) -> None:
    first = trainer_for(corpus_file, tmp_path / "run", time_budget=4.0, max_iters=None)
    over_1s = first.stop_when(lambda e: isinstance(e, StepEvent) and e.elapsed_s > 1.0)
    stopped = first.run(step_clock, over_1s)
    spent = stopped.elapsed_s
    assert spent == 1.25 and stopped.iter == 10  # step 10's record says 1.125 s: stop there
    assert load_checkpoint(tmp_path / "run" / "last.pt")["elapsed_s"] == spent
    second = resumed_training(tmp_path / "run")
    done = second.run(step_clock)
    assert done.reason == "finished"
    assert done.elapsed_s == 4.0  # the total, not 4 more seconds
    assert done.iter - stopped.iter == (4.0 - spent) / StepClock.STEP_S == 22  # what was left


def test_steps_seed_dropout_as_torch_manual_seed_would_without_calling_it(
    corpus_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.manual_seed captures a Python stack for every backend not initialised (2 ms
    a step on CPU): the loop seeds the generators it uses, to the same masks."""
    from charlm_tui.core.training.step import seed_dropout

    torch.manual_seed(7)
    expected = torch.nn.functional.dropout(torch.ones(64), 0.5)
    torch.manual_seed(0)
    seed_dropout(7, torch.device("cpu"))
    assert torch.equal(torch.nn.functional.dropout(torch.ones(64), 0.5), expected)

    trainer = trainer_for(corpus_file, None, max_iters=5, dropout=0.2)

    def no_global_seeding(seed: int) -> None:
        raise AssertionError("torch.manual_seed called in the training loop")

    monkeypatch.setattr(torch, "manual_seed", no_global_seeding)
    done = trainer.run(Collect())
    assert done.reason == "finished" and done.iter == 5
