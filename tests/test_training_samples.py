"""The samples a training writes: from --sample-prompt, by steps, by time while the run is
young, and one at the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charlm_tui.core.runs.events import SampleEvent
from charlm_tui.tui.cli import run
from tests.train_helpers import Collect, new_training


def sample_iters(corpus: Path, out: Path, seconds_per_step: float, **over: object) -> list[int]:
    """The iterations a tiny run samples at, its clock faked to `seconds_per_step` a step."""
    training = new_training(corpus, out, **over)
    trainer = training.trainer
    trainer.clock.elapsed = lambda: trainer.state.iter * seconds_per_step  # type: ignore[method-assign]
    events = Collect()
    training.run(events)
    return [e.iter for e in events.events if isinstance(e, SampleEvent)]


def test_a_young_run_samples_by_time_and_every_run_ends_with_a_sample(
    corpus_file: Path, tmp_path: Path
) -> None:
    iters = sample_iters(
        corpus_file, tmp_path / "r", 1.0, max_iters=100, sample_interval=1000, early_sample_s=10.0,
        sample_chars=5,
    )  # fmt: skip
    # at the start (by steps), after 10, 20, 40 and 80 s of training, and at the end
    assert iters == [0, 10, 20, 40, 80, 100]


def test_samples_by_steps_push_the_next_one_by_time_back(corpus_file: Path, tmp_path: Path) -> None:
    iters = sample_iters(
        corpus_file, tmp_path / "r", 1.0, max_iters=60, sample_interval=25, early_sample_s=10.0,
        sample_chars=5,
    )  # fmt: skip
    # 0 by steps; 10 and 20 by time; 25 by steps, so the one due at 40 s comes at 40 (after
    # 25 + 5 s) and not twice; 50 by steps; the end at 60
    assert iters == [0, 10, 20, 25, 40, 50, 60]


def test_no_samples_at_all_with_interval_zero(corpus_file: Path, tmp_path: Path) -> None:
    iters = sample_iters(
        corpus_file, tmp_path / "r", 1.0, max_iters=40, sample_interval=0, early_sample_s=5.0
    )
    assert iters == []


def test_off_by_time_with_zero(corpus_file: Path, tmp_path: Path) -> None:
    iters = sample_iters(
        corpus_file, tmp_path / "r", 1.0, max_iters=50, sample_interval=1000, early_sample_s=0.0,
        sample_chars=5,
    )  # fmt: skip
    assert iters == [0, 50]


def test_the_samples_start_from_the_prompt_given(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--sample-prompt", "the k"]) == 0
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert records and all(r["prompt"] == "the k" for r in records)
    printed = capsys.readouterr().out
    assert "the k" + records[-1]["text"].rstrip("\n") in printed  # the prompt, then its text


def test_a_prompt_the_corpus_cannot_give_is_refused(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--sample-prompt", "the €"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--sample-prompt" in err and "€" in err and "\n" not in err
    assert not out.exists()
