import math
import time
from pathlib import Path

import pytest
import torch

from core.checkpoint import load_checkpoint
from core.config import build_configs
from core.evaluate import estimate
from core.events import CheckpointEvent, DoneEvent, EvalEvent, SampleEvent, StartEvent, StepEvent
from core.rundir import read_jsonl
from core.train import learning_rate, prepare


class Collect:
    def __init__(self, on_event=None) -> None:
        self.events: list = []
        self.on_event = on_event
        self.closed = False

    def handle(self, event) -> None:
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    def close(self) -> None:
        self.closed = True


def trainer_for(corpus_file: Path, run_dir: Path | None, **over):
    values = dict(
        data=str(corpus_file),
        max_iters=30,
        eval_interval=10,
        sample_interval=15,
        sample_chars=20,
        log_interval=1,
    )
    values.update(over)
    mcfg, tcfg = build_configs("tiny", values)
    return prepare(mcfg, tcfg, run_dir)


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
    trainer.sinks.append(sink)
    done = trainer.run()
    kinds = [type(e) for e in sink.events]
    assert kinds[0] is StartEvent and kinds[-1] is DoneEvent and sink.closed
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
    evals = [r for r in read_jsonl(run / "metrics.jsonl") if r["event"] == "eval"]
    assert [r["iter"] for r in evals] == [0, 10, 20, 30]
    for key in (
        "iter",
        "elapsed_s",
        "tokens_per_s",
        "lr",
        "train_loss",
        "val_loss",
        "train_top1",
        "val_top1",
        "train_top5",
        "val_top5",
    ):
        assert all(key in r for r in evals), key
    assert all(0.0 <= r["val_top1"] <= r["val_top5"] <= 1.0 for r in evals)
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]  # it learned something
    samples = read_jsonl(run / "samples.jsonl")
    assert [s["iter"] for s in samples] == [0, 15, 30] and all(
        len(s["text"]) == 20 for s in samples
    )
    best = load_checkpoint(run / "best.pt")
    assert best["best_val_loss"] == min(r["val_loss"] for r in evals)


def test_eval_never_runs_with_dropout_or_grad_and_training_never_without(
    corpus_file: Path,
) -> None:
    trainer = trainer_for(corpus_file, None, dropout=0.5, max_iters=20)
    calls: list[tuple[bool, bool]] = []
    trainer.raw_model.register_forward_pre_hook(
        lambda m, args: calls.append((m.training, torch.is_grad_enabled()))
    )
    trainer.run()
    assert calls and set(calls) == {(True, True), (False, False)}
    assert trainer.raw_model.training


def test_eval_metrics_are_those_of_the_saved_weights(corpus_file: Path, tmp_path: Path) -> None:
    trainer = trainer_for(corpus_file, tmp_path / "run", dropout=0.3, max_iters=20)
    trainer.run()
    last = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["event"] == "eval"][-1]
    model = trainer.raw_model
    model.load_state_dict(load_checkpoint(tmp_path / "run" / "last.pt")["model"])
    again = estimate(model, trainer.eval_batches["val"])
    assert again.loss == pytest.approx(last["val_loss"], abs=1e-6)


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
    trainer = trainer_for(corpus_file, tmp_path / "run", max_iters=100)

    def stop_at_7(e) -> None:
        if isinstance(e, StepEvent) and e.iter == 7:
            trainer.control.stop("interrupted")

    trainer.sinks.append(Collect(stop_at_7))
    done = trainer.run()
    assert done.reason == "interrupted" and done.iter == 7
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iter"] == 7


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_resume_is_exact(corpus_file: Path, tmp_path: Path, optimizer: str) -> None:
    opts = dict(dropout=0.1, max_iters=20, eval_interval=5, sample_interval=5, optimizer=optimizer)
    straight = trainer_for(corpus_file, tmp_path / "a", **opts)
    straight.run()

    first = trainer_for(corpus_file, tmp_path / "b", **opts)

    def stop_at_10(e) -> None:
        if isinstance(e, StepEvent) and e.iter == 10:
            first.control.stop("interrupted")

    first.sinks.append(Collect(stop_at_10))
    assert first.run().iter == 10
    mcfg, tcfg = build_configs("tiny", {})
    second = prepare(mcfg, tcfg, tmp_path / "b", resume=True, changed={"max_iters": 20})
    assert second.iter == 10
    assert second.run().reason == "finished"

    a = load_checkpoint(tmp_path / "a" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    def evals(run: str) -> list:
        recs = read_jsonl(tmp_path / run / "metrics.jsonl")
        return [(r["iter"], r["train_loss"], r["val_loss"]) for r in recs if r["event"] == "eval"]

    assert evals("a") == evals("b")
    texts = [[s["text"] for s in read_jsonl(tmp_path / r / "samples.jsonl")] for r in "ab"]
    assert texts[0] == texts[1]


def test_time_budget_stops_on_time(corpus_file: Path) -> None:
    trainer = trainer_for(corpus_file, None, time_budget=1.5, max_iters=None)
    done = trainer.run()
    assert done.reason == "finished"
    assert 1.5 <= done.elapsed_s < 5.0
    assert math.isfinite(done.best_val_loss)


def test_a_second_training_on_the_same_run_is_refused(corpus_file: Path, tmp_path: Path) -> None:
    from core.errors import CharLMError
    from core.rundir import RunLock, run_info

    first = trainer_for(corpus_file, tmp_path / "run", max_iters=10)
    assert RunLock.held(tmp_path / "run")
    mcfg, tcfg = build_configs("tiny", {})
    with pytest.raises(CharLMError, match="in use by another training process"):
        prepare(mcfg, tcfg, tmp_path / "run", overwrite=True)
    first.run()
    assert not RunLock.held(tmp_path / "run")
    assert run_info(tmp_path / "run").status == "finished"


def test_compile_falls_back_to_eager_with_a_note(corpus_file: Path, monkeypatch) -> None:
    from core.events import NoteEvent

    def broken_compile(model):
        def compiled(*args, **kwargs):
            raise RuntimeError("InductorError: no working C compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    trainer = trainer_for(corpus_file, None, max_iters=10, compile=True)
    sink = Collect()
    trainer.sinks.append(sink)
    done = trainer.run()
    assert done.reason == "finished" and done.iter == 10
    notes = [e for e in sink.events if isinstance(e, NoteEvent)]
    assert len(notes) == 1 and "no working C compiler" in notes[0].text


def test_resume_from_best_is_an_explicit_choice(corpus_file: Path, tmp_path: Path) -> None:
    trainer = trainer_for(corpus_file, tmp_path / "run", max_iters=100, eval_interval=10)

    def stop_at_25(e) -> None:  # a stop saves last.pt without an eval: best stays at 20
        if isinstance(e, StepEvent) and e.iter == 25:
            trainer.control.stop("interrupted")

    trainer.sinks.append(Collect(stop_at_25))
    trainer.run()
    best_iter = load_checkpoint(tmp_path / "run" / "best.pt")["iter"]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iter"] == 25
    mcfg, tcfg = build_configs("tiny", {})
    again = prepare(
        mcfg, tcfg, tmp_path / "run", resume=True, resume_from="best", changed={"max_iters": 25}
    )
    assert again.iter == best_iter == 20
    again.run()


def test_time_budget_resume_spends_only_what_is_left(corpus_file: Path, tmp_path: Path) -> None:
    first = trainer_for(corpus_file, tmp_path / "run", time_budget=4.0, max_iters=None)

    def stop_at_1s(e) -> None:
        if isinstance(e, StepEvent) and e.elapsed_s > 1.0:
            first.control.stop("interrupted")

    first.sinks.append(Collect(stop_at_1s))
    spent = first.run().elapsed_s
    assert 1.0 < spent < 3.0
    mcfg, tcfg = build_configs("tiny", {})
    second = prepare(mcfg, tcfg, tmp_path / "run", resume=True)
    t = time.perf_counter()
    done = second.run()
    assert 3.9 <= done.elapsed_s < 5.5  # the total, not 4 more seconds
    assert time.perf_counter() - t < 4.0 - spent + 1.5
