"""Nothing lost: resume after kill -9, random kills, full disks, divergence, hostile input."""

from __future__ import annotations

import errno
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charlm_tui.core.config import build_configs
from charlm_tui.core.decoding.evaluate import evaluate_split
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.checkpoint import load_checkpoint, restore_model
from charlm_tui.core.runs.control import write_control
from charlm_tui.core.runs.events import CheckpointEvent, EvalEvent, SampleEvent
from charlm_tui.core.runs.records import JsonlWriter, read_records
from charlm_tui.core.text.corpus import load_corpus
from tests.conftest import make_text
from tests.train_helpers import (
    DDP_CLI,
    ROOT,
    resume_argv,
    run_captured,
    short_training,
    train_argv,
)
from tests.waiting import wait_until


def last_iters(run: Path) -> list[int]:
    events = read_records(run / "metrics.jsonl")
    return [e.iter for e in events if isinstance(e, CheckpointEvent) and e.kind == "last"]


def sample_texts(run: Path) -> list[str]:
    return [e.text for e in read_records(run / "samples.jsonl") if isinstance(e, SampleEvent)]


def test_resume_after_kill_9_is_bit_identical(corpus_file: Path, tmp_path: Path) -> None:
    opts = dict(max_iters=300, eval_interval=10, sample_interval=10, dropout=0.1)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(
        train_argv(corpus_file, straight, **opts), check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )

    argv = train_argv(corpus_file, killed, **opts)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    # last.pt, not best.pt: an eval writes best first, and a kill between the two would
    # leave last.pt at the eval before.
    wait_until(
        lambda: any(i >= 20 for i in last_iters(killed)) or proc.poll() is not None,
        "a last.pt at iteration 20 or later",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = load_checkpoint(killed / "last.pt")["iter"]
    assert 20 <= saved < 120  # killed mid-run, after a checkpoint
    subprocess.run(resume_argv(killed), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    a = load_checkpoint(straight / "last.pt")["model"]
    b = load_checkpoint(killed / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), f"resumed from iter {saved}"

    def evals(run: Path) -> list[tuple]:
        events = read_records(run / "metrics.jsonl")
        return [(e.iter, e.train, e.val) for e in events if isinstance(e, EvalEvent)]

    assert evals(straight) == evals(killed)
    assert sample_texts(straight) == sample_texts(killed)


def test_random_kills_never_leave_an_unloadable_checkpoint(
    corpus_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    # A checkpoint every 2 steps: most kills land close to, or inside, a write.
    opts = dict(max_iters=100_000, eval_interval=2, eval_iters=1, sample_interval=0)
    rng = random.Random(0)
    for attempt in range(8):
        resume = (run / "last.pt").exists()
        argv = resume_argv(run) if resume else train_argv(corpus_file, run, **opts, overwrite=True)
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(
            lambda p=proc: (run / "metrics.jsonl").exists() or p.poll() is not None,
            "the run's metrics.jsonl",
        )
        # The kill's random moment is what this test is about: a wait on no event.
        time.sleep(rng.uniform(0.2, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for name in ("last.pt", "best.pt"):
            if (run / name).exists():
                ckpt = load_checkpoint(run / name)  # raises if truncated or corrupt
                restore_model(ckpt, where=f"{name} after kill {attempt}")
    # The next start cleans up the temporary files a killed write left behind.
    one_more = load_checkpoint(run / "last.pt")["iter"] + 1
    subprocess.run(
        resume_argv(run, max_iters=one_more), cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    assert not list(run.glob(".charlm-*.tmp"))
    assert load_checkpoint(run / "last.pt")["iter"] >= 1


def test_disk_full_during_a_checkpoint(corpus_file: Path, tmp_path: Path, monkeypatch) -> None:
    trainer = short_training(corpus_file, tmp_path / "run", max_iters=40)
    real_save = torch.save
    calls = {"n": 0}

    def save_until_the_disk_fills(obj, f, *a, **kw):
        calls["n"] += 1
        if calls["n"] > 4:  # iters 0 and 10 (best and last) fit; iter 20 does not
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    done = trainer.run()
    assert done.reason == "failed"
    assert "No space left on device" in done.message and "intact" in done.message
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iter"] == 10
    assert not list((tmp_path / "run").glob(".charlm-*.tmp"))
    # The state in memory is whole: saving it now works and round-trips.
    trainer.trainer.save("last")
    again = load_checkpoint(tmp_path / "run" / "last.pt")
    assert again["iter"] == trainer.trainer.state.iter == 20
    live = trainer.trainer.model.state_dict()
    assert all(torch.equal(live[k], again["model"][k]) for k in live)


def test_disk_full_under_metrics(corpus_file: Path, tmp_path: Path, monkeypatch) -> None:
    trainer = short_training(corpus_file, tmp_path / "run", max_iters=40)
    real = JsonlWriter.write
    count = {"n": 0}

    def write(self, record):
        count["n"] += 1
        if count["n"] > 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, record)

    monkeypatch.setattr(JsonlWriter, "write", write)
    done = trainer.run()
    assert done.reason == "failed" and "No space left on device" in done.message
    load_checkpoint(tmp_path / "run" / "last.pt")


def test_cli_lr_1e6_stops_before_the_step_and_keeps_best(corpus_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = run_captured(train_argv(corpus_file, out, lr="1e6", min_lr="1e5", grad_clip=0))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "iteration" in line and "stopped before the optimizer step" in line
    best = load_checkpoint(out / "best.pt")
    assert best["iter"] == 0
    for name in ("best.pt", "last.pt"):
        ckpt = load_checkpoint(out / name)
        assert all(torch.isfinite(t).all() for t in ckpt["model"].values())


def test_unwritable_output_directory(tmp_path: Path) -> None:
    result = run_captured(train_argv(None, "/proc/charlm-test"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("charlm-tui: error: cannot write the run directory")


HOSTILE = {
    "crlf": "ROMEO:\r\nO, she doth teach the torches to burn bright!\r\n\r\n" * 200,
    "one-character": "a" * 5000,
    "one-long-line": ("lorem ipsum dolor sit amet " * 2000),
    "nul-bytes": ("abc\x00def\x00\n" * 600),
    "mixed-unicode": ("e\u0301 café 🎭😀 漢字かな שלום مرحبا ∑∫ \u200f\n" * 150),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_corpora_train_sample_and_evaluate(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.txt"
    path.write_text(HOSTILE[name], encoding="utf-8", newline="")
    trainer = short_training(path, tmp_path / "run", max_iters=10)
    done = trainer.run()
    assert done.reason == "finished"
    vocab = trainer.trainer.dataset.vocab
    expected = set(HOSTILE[name].replace("\r\n", "\n"))  # Windows line endings: "\n"
    assert set(vocab.chars) == expected
    model = trainer.trainer.model
    ids = list(generate(model, [0], 50, SamplingParams(), torch.Generator()))
    assert len(vocab.decode(ids)) == 50
    m = evaluate_split(model, trainer.trainer.dataset.val, 32)
    assert np.isfinite(m.loss) and 0.0 <= m.top1 <= m.top5 <= 1.0


def test_random_bytes_are_refused_or_replaced(tmp_path: Path) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(CharLMError, match=r"not valid UTF-8: byte 0x[0-9a-f]{2} at offset"):
        load_corpus(str(path))
    trainer = short_training(path, tmp_path / "run", max_iters=5, encoding_errors="replace")
    assert trainer.run().reason == "finished"
    assert "\ufffd" in trainer.trainer.dataset.vocab.chars


@pytest.fixture(scope="module")
def small_model():
    text = make_text(3000, seed=2)
    mcfg, _ = build_configs("tiny", dict(block_size=16))
    from charlm_tui.core.config import replace
    from charlm_tui.core.models import build_model
    from charlm_tui.core.text.vocab import Vocab

    vocab = Vocab.from_text(text)
    torch.manual_seed(0)
    return build_model(replace(mcfg, vocab_size=len(vocab))), vocab


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_prompt_is_either_generated_from_or_refused_by_name(small_model, data) -> None:
    model, vocab = small_model
    prompt = data.draw(st.text(alphabet=st.sampled_from(vocab.chars + "€é\x00🎭"), max_size=60))
    unknown = sorted(set(prompt) - set(vocab.chars))
    if unknown or not prompt:
        if unknown:
            with pytest.raises(CharLMError) as err:
                vocab.encode(prompt, "the prompt")
            for ch in unknown:
                assert repr(ch) in str(err.value) or f"U+{ord(ch):04X}" in str(err.value)
        return
    ids = list(
        generate(
            model,
            vocab.encode(prompt),
            20,
            SamplingParams(top_k=3),
            torch.Generator().manual_seed(0),
        )
    )
    assert len(ids) == 20 and all(0 <= i < len(vocab) for i in ids)


def test_ddp_pause_steer_save_stop_then_resume_is_bit_identical(
    corpus_file: Path, tmp_path: Path
) -> None:
    """Only rank 0 reads control.json; every rank must pause, apply a steered learning
    rate, stop and resume with it, and the result must be exact."""
    # A constant learning rate, so a run's length does not shape it: the reference can
    # be a run of exactly the paused length, resumed with the steered value.
    constant_lr = dict(lr="2e-3", min_lr="2e-3", warmup_iters=0)
    steered, reference = tmp_path / "steered", tmp_path / "reference"

    def train(out: Path, **more: object) -> list[str]:
        opts = dict(eval_interval=10, sample_interval=10, dropout=0.1, **constant_lr, **more)
        return train_argv(corpus_file, out, command=DDP_CLI, **opts)

    quiet = {"cwd": ROOT, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

    proc = subprocess.Popen(train(steered, max_iters=300), **quiet)
    try:
        wait_until(
            lambda: any(i >= 10 for i in last_iters(steered)) or proc.poll() is not None,
            "a last.pt at iteration 10 or later",
        )
        write_control(steered, paused=True)
        wait_until(
            lambda: paused_notes(steered) or proc.poll() is not None, "rank 0's note of the pause"
        )
        saved_before = len(last_iters(steered))  # paused: from now on, only the saves asked for
        # A save while paused lands at the paused iteration, and stays there.
        for n in (1, 2):
            write_control(steered, save=n)
            wait_until(
                lambda n=n: len(last_iters(steered)) >= saved_before + n or proc.poll() is not None,
                f"the save asked for while paused (number {n})",
            )
        paused_at = last_iters(steered)[-2:]
        assert paused_at[0] == paused_at[1] < 300, last_iters(steered)
        write_control(steered, lr_scale=2.0)  # every rank must take it at the same step
        wait_until(
            lambda: steers(steered) or proc.poll() is not None, "the steer record of lr_scale"
        )
        write_control(steered, stop=True)  # every rank stops: none hangs in the all-reduce
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    p = paused_at[0]
    assert [(e.iter, e.field, e.new) for e in steers(steered)] == [(p, "lr_scale", 2.0)]
    assert load_checkpoint(steered / "last.pt")["iter"] == p
    subprocess.run(train(steered, resume=True), check=True, timeout=300, **quiet)

    subprocess.run(train(reference, max_iters=p), check=True, **quiet)
    resume = train(reference, resume=True, max_iters=300, lr_scale=2)
    subprocess.run(resume, check=True, timeout=300, **quiet)
    a = load_checkpoint(reference / "last.pt")["model"]
    b = load_checkpoint(steered / "last.pt")["model"]
    assert load_checkpoint(steered / "last.pt")["iter"] == 300
    assert all(torch.equal(a[k], b[k]) for k in a), f"steered at iter {p}"
    assert sample_texts(reference) == sample_texts(steered)


def paused_notes(run: Path) -> list:
    from charlm_tui.core.runs.events import NoteEvent

    events = read_records(run / "metrics.jsonl")
    return [e for e in events if isinstance(e, NoteEvent) and e.text.startswith("paused")]


def steers(run: Path) -> list:
    from charlm_tui.core.runs.events import SteerEvent

    return [e for e in read_records(run / "metrics.jsonl") if isinstance(e, SteerEvent)]
