"""Promises kept under an adversary: signals, bad evals, full disks, hostile files and folders.

Signals, non-finite evals, full disks, closed pipes, changed corpora, crafted checkpoints,
hostile run folders.

The one-line refusals of bad options are in tests/test_cli.py's bad-input table; these
are the cases that need a process, a disk or a folder set up to misbehave.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.checkpoint import load_checkpoint, save_checkpoint
from charlm_tui.core.runs.events import DoneEvent, NoteEvent, SampleEvent, StepEvent
from charlm_tui.core.runs.listing import list_runs, run_view
from charlm_tui.core.runs.records import read_records
from charlm_tui.core.runs.rundir import LOCK, RunDirectory, RunLock
from charlm_tui.core.text.corpus import Corpus
from charlm_tui.core.text.dataset import encode_cached
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.training.steering import STOPS
from charlm_tui.tui.cli import run
from tests.conftest import make_text
from tests.train_helpers import ROOT, Collect, new_training, spawn_piped, train_argv
from tests.tui_helpers import fake_run
from tests.waiting import wait_until


def done_of(run_dir: Path) -> DoneEvent:
    return [e for e in read_records(run_dir / "metrics.jsonl") if isinstance(e, DoneEvent)][-1]


def tiny(corpus: Path, out: Path, *more: str) -> list[str]:
    return ["--no-ui", "train", "--preset", "tiny", "--data", str(corpus), "--out", str(out), *more]


# -- non-finite evaluations are divergence -------------------------------------------------


@pytest.mark.parametrize(
    "opts",
    [
        ["--lr", "1e300", "--warmup-iters", "0", "--min-lr", "1"],
        ["--lr", "1e6", "--min-lr", "1e5", "--warmup-iters", "0"],
    ],
)
def test_a_non_finite_eval_stops_exit_1_and_writes_no_weights(
    corpus_file: Path, tmp_path: Path, opts: list[str], capsys
) -> None:
    out = tmp_path / "run"
    assert run(tiny(corpus_file, out, "--max-iters", "1", *opts)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("before the optimizer step" in err[0] or "not finite" in err[0])
    assert done_of(out).reason == "diverged"
    for name in ("last.pt", "best.pt"):
        ckpt = load_checkpoint(out / name)
        assert ckpt["iter"] == 0  # the last finite weights: before the step that blew up
        assert all(torch.isfinite(t).all() for t in ckpt["model"].values())


# -- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_inside_torch_save_is_one_line_and_keeps_the_old_checkpoint(
    corpus_file: Path, tmp_path: Path, monkeypatch
) -> None:
    real, calls = torch.save, {"n": 0}

    def fills_up(obj, f, *a, **kw):  # what torch's zip writer says on ENOSPC
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")
        return real(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", fills_up)
    training = new_training(corpus_file, tmp_path / "run", max_iters=40, eval_interval=10)
    done = training.run()
    assert done.reason == "failed" and done.exit_code == 1
    assert "at iteration 10" in done.message and "best.pt" in done.message
    assert "no space left" in done.message and "intact" in done.message
    monkeypatch.setattr(torch, "save", real)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iter"] == 0
    assert done_of(tmp_path / "run").reason == "failed"  # the records could still be written
    assert not list((tmp_path / "run").glob(".charlm-*"))


def test_a_full_disk_at_start_exits_1_and_leaves_nothing_behind(
    corpus_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import charlm_tui.core.runs.rundir as rundir

    out = tmp_path / "run"
    real = rundir.write_config

    def full(run_dir: Path, config: dict) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir, "write_config", full)
    assert run(tiny(corpus_file, out, "--max-iters", "3")) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists()  # no .lock, config.json or temporary file to refuse a retry
    monkeypatch.setattr(rundir, "write_config", real)
    assert run(tiny(corpus_file, out, "--max-iters", "3")) == 0


# -- the user's own files ------------------------------------------------------------------


def test_foreign_temporary_files_survive_and_overwrite_refuses_a_foreign_folder(
    corpus_file: Path, tmp_path: Path, capsys
) -> None:
    theirs = tmp_path / "mine"
    theirs.mkdir()
    (theirs / ".draft.tmp").write_text("my draft")
    (theirs / ".swp.tmp").write_text("my swap")
    assert run(tiny(corpus_file, theirs, "--max-iters", "2")) == 0
    assert (theirs / ".draft.tmp").read_text() == "my draft"
    assert (theirs / ".swp.tmp").read_text() == "my swap"

    other = tmp_path / "other-tool"
    other.mkdir()
    (other / "config.json").write_text('{"learning_rate": 0.1}')
    assert run(tiny(corpus_file, other, "--max-iters", "2", "--overwrite")) == 2
    assert "not a charlm-tui run" in capsys.readouterr().err
    assert (other / "config.json").read_text() == '{"learning_rate": 0.1}'


# -- SIGTERM and SIGHUP --------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_save_and_exit_with_128_plus_the_signal(
    corpus_file: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "run"
    argv = train_argv(corpus_file, out, max_iters=100_000)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    wait_until(
        lambda: any(isinstance(e, StepEvent) for e in read_records(out / "metrics.jsonl")),
        "the run's first step record",
    )
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 128 + sig
    done = done_of(out)
    assert done.reason == "terminated" and done.exit_code == 128 + sig
    assert load_checkpoint(out / "last.pt")["iter"] == done.iter > 0  # nothing lost


# -- a closed stdout -----------------------------------------------------------------------


def test_a_closed_stdout_keeps_the_run_going_and_recorded(corpus_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    proc = spawn_piped(train_argv(corpus_file, out, max_iters=60, eval_interval=5))
    assert proc.stdout is not None
    proc.stdout.readline()  # `| head -1`: read a line, then go away
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"Exception ignored" not in err
    assert done_of(out).reason == "finished" and done_of(out).iter == 60
    assert load_checkpoint(out / "last.pt")["iter"] == 60


# -- a malformed control.json --------------------------------------------------------------


def test_a_malformed_control_file_mid_run_is_a_note_not_a_crash(corpus_file: Path, tmp_path):
    out = tmp_path / "run"
    training = new_training(corpus_file, out, max_iters=30, eval_interval=10)

    def spoil(event) -> None:
        if isinstance(event, StepEvent) and event.iter == 5:
            (out / "control.json").write_bytes(b'{"save": 1e999}')

    assert training.run(Collect(spoil)).reason == "finished"
    notes = [e.text for e in read_records(out / "metrics.jsonl") if isinstance(e, NoteEvent)]
    assert len(notes) == 1 and "control.json ignored" in notes[0]


# -- the corpus changed under a run --------------------------------------------------------


def test_resume_refuses_a_changed_corpus_unless_allowed(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "play.txt"
    corpus.write_text(make_text(20_000, seed=3), encoding="utf-8")
    out = tmp_path / "run"
    assert run(tiny(corpus, out, "--max-iters", "5")) == 0
    corpus.write_text(make_text(20_000, seed=4), encoding="utf-8")  # same characters
    before = (out / "config.json").read_bytes()
    resume = ["--no-ui", "train", "--out", str(out), "--resume", "--max-iters", "10"]
    assert run(resume) == 2
    err = capsys.readouterr().err
    assert "changed since this run trained on it" in err and "--allow-data-change" in err
    assert (out / "config.json").read_bytes() == before  # nothing rewritten
    assert run([*resume, "--allow-data-change"]) == 0
    notes = [e.text for e in read_records(out / "metrics.jsonl") if isinstance(e, NoteEvent)]
    assert any("corpus changed since the checkpoint" in n for n in notes)


# -- tiny temperatures ---------------------------------------------------------------------


def test_a_tiny_temperature_is_greedy(tmp_path: Path, capsys) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"
    sample = ["--no-ui", "sample", str(ckpt), "--prompt", "KING", "--max-new-tokens", "30"]
    assert run([*sample, "--temperature", "1e-40"]) == 0
    tiny_t = capsys.readouterr().out
    assert run([*sample, "--temperature", "0"]) == 0
    assert capsys.readouterr().out == tiny_t


# -- crafted checkpoints -------------------------------------------------------------------


CRAFTED = [
    (lambda c: c["config"]["model"].update(n_head=0), "--n-head must be in"),
    (lambda c: c["config"]["model"].update(n_head=3), "divisible"),
    (lambda c: c["config"]["model"].update(n_layer="two"), "n_layer must be a whole number"),
    (lambda c: c["config"]["train"].update(batch_size=0), "--batch-size must be in"),
    (lambda c: c["config"]["train"].update(eval_interval=0), "--eval-interval must be in"),
    (lambda c: c.update(iter="abc"), "iter must be a whole number"),
    (lambda c: c.update(elapsed_s="x"), "elapsed_s must be a number"),
    (lambda c: c.pop("optimizer"), "optimizer state does not fit"),
    (lambda c: c.update(optimizer={"adamw": {"state": {}, "param_groups": [{}]}}), "optimizer"),
    (lambda c: c.update(rng={"sample": torch.zeros(3, dtype=torch.uint8)}), "RNG state"),
    (
        lambda c: c["model"].update(
            {"wte.weight": c["model"]["wte.weight"].to_sparse()}  # same shape, sparse
        ),
        "not a dense tensor",
    ),
]


@pytest.mark.parametrize(("craft", "message"), CRAFTED)
def test_a_crafted_checkpoint_is_refused_before_anything_is_written(
    corpus_file: Path, tmp_path: Path, craft, message: str, capsys
) -> None:
    out = tmp_path / "run"
    assert run(tiny(corpus_file, out, "--max-iters", "3")) == 0
    ckpt = load_checkpoint(out / "last.pt")
    craft(ckpt)
    save_checkpoint(ckpt, out / "last.pt")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code = run(["--no-ui", "train", "--out", str(out), "--resume", "--max-iters", "6"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


# -- odd run folders -----------------------------------------------------------------------


def test_one_odd_run_folder_never_hides_or_hangs_the_others(tmp_path: Path, capsys) -> None:
    fake_run(tmp_path, "good", iters=100)
    fake_run(tmp_path, "[bold red]alert", iters=100)  # Rich markup in a name
    bad_params = fake_run(tmp_path, "bad-params", iters=100)
    config = json.loads((bad_params / "config.json").read_text())
    (bad_params / "config.json").write_text(json.dumps({**config, "n_params": "abc"}))
    latin = fake_run(tmp_path, "latin1-config", iters=100)
    (latin / "config.json").write_bytes(b'{"model": "caf\xe9"}')
    as_dir = fake_run(tmp_path, "metrics-is-a-folder", iters=100)
    (as_dir / "metrics.jsonl").unlink()
    (as_dir / "metrics.jsonl").mkdir()
    fifo = fake_run(tmp_path, "metrics-is-a-fifo", iters=100)
    (fifo / "metrics.jsonl").unlink()
    os.mkfifo(fifo / "metrics.jsonl")  # reading it would wait for a writer forever
    odd_done = fake_run(tmp_path, "odd-done", iters=100, done=None)
    with (odd_done / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"event": "done", "iter": 100, "reason": 5, "elapsed_s": 1}) + "\n")

    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(infos=list_runs(tmp_path)))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "listing hung on a FIFO"
    infos = {i.path.name: i for i in result["infos"]}
    assert len(infos) == 7
    # a config.json's count that is not a number is not trusted: the start record's is
    assert (
        infos["good"].status == "finished"
        and infos["bad-params"].n_params == infos["good"].n_params
    )
    assert infos["metrics-is-a-folder"].status == "unreadable"
    assert "not a regular file" in infos["metrics-is-a-fifo"].error
    assert infos["odd-done"].status == "killed"  # the malformed done record is not trusted
    assert run(["runs", str(tmp_path)]) == 0  # and the table prints every row, literally
    printed = capsys.readouterr().out
    assert "[bold red]alert" in printed and "unreadable" in printed and "latin1-config" in printed


def test_after_kill_9_runs_shows_where_a_resume_would_start(corpus_file, tmp_path) -> None:
    out = tmp_path / "run"
    training = new_training(corpus_file, out, max_iters=40, eval_interval=10)
    training.run(training.stop_when(lambda e: isinstance(e, StepEvent) and e.iter == 17))
    # As if killed at iteration 17 after logging step 17 and before any save: drop the
    # stop's save and done records, keep the steps.
    lines = (out / "metrics.jsonl").read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if '"done"' not in ln and '"iter": 17, "path"' not in ln]
    (out / "metrics.jsonl").write_text("".join(kept))
    view = run_view(out)
    assert view.status == "killed" and view.resume_iter == 10  # last.pt's, not step 17


# -- prompt stops during long evals and samples --------------------------------------------


def test_a_stop_interrupts_a_long_sample_promptly(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charlm_tui.core.decoding import sampling

    training = new_training(
        corpus_file, tmp_path / "run", max_iters=50, sample_interval=5, sample_chars=100_000
    )
    drawn = [0]

    def stop_after_1000(*args, **kwargs):
        """The sampler's characters, with a Ctrl-C after the first 1,000 of them."""
        for tok in sampling.generate(*args, **kwargs):
            drawn[0] += 1
            if drawn[0] == 1000:
                training.steering.request_stop(STOPS[1])
            yield tok

    # The training modules that draw samples, whichever they are, draw through it.
    samplers = [
        m
        for name, m in list(sys.modules.items())
        if name.startswith("charlm_tui.core.training")
        and vars(m).get("generate") is sampling.generate
    ]
    assert samplers
    for module in samplers:
        monkeypatch.setattr(module, "generate", stop_after_1000)
    done = training.run()
    # The stop came 1,000 characters into the first sample (100,000 characters: minutes):
    # it was abandoned at once, not finished, and no half sample was written.
    assert done.reason == "interrupted" and done.iter == 0
    assert 1000 <= drawn[0] <= 1001  # at most the character in flight, then no more
    assert not any(
        isinstance(e, SampleEvent) for e in read_records(tmp_path / "run" / "samples.jsonl")
    )


# -- a poisoned cache, a stale lock file, unreadable corpus paths --------------------------


def test_a_poisoned_corpus_cache_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHARLM_DATA_DIR", str(tmp_path / "data"))  # this text's cache only
    text = make_text(100_000, seed=9)
    vocab = Vocab.from_text(text)
    corpus = Corpus.of_text("generated", text, ("generated",))
    good = np.array(encode_cached(corpus, vocab))  # a copy: the cache is memory-mapped
    cached = list((Path(os.environ["CHARLM_DATA_DIR"]) / "cache").glob("*.npy"))
    assert len(cached) == 1
    np.save(cached[0], np.zeros_like(good))  # same shape and type, wrong contents
    assert np.array_equal(np.asarray(encode_cached(corpus, vocab)), good)


def test_a_lock_file_left_behind_does_not_hold_a_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK).write_text("12345\n")  # a dead process's lock file
    with RunDirectory(run_dir) as claimed:
        claimed.claim({"model": {}, "train": {}}, 1, overwrite=False, resume_iter=None)
        assert RunLock.held(run_dir)  # claimed: the lock is this process's now
        assert (run_dir / LOCK).read_text() == f"{os.getpid()}\n"
        assert (run_dir / "config.json").is_file()
    assert not RunLock.held(run_dir)  # and released with the run directory


def test_corpus_paths_that_cannot_be_read_are_one_line(tmp_path: Path) -> None:
    from charlm_tui.core.text.corpus import load_corpus

    with pytest.raises(CharLMError, match="cannot read --data"):
        load_corpus(str(tmp_path / ("n" * 300)))


# -- Windows line endings, early evals, pauses told ----------------------------------------


def test_crlf_corpora_are_normalised_unless_kept(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "crlf.txt"
    corpus.write_bytes(make_text(20_000, seed=5).replace("\n", "\r\n").encode())
    out = tmp_path / "run"
    assert run(tiny(corpus, out, "--max-iters", "3")) == 0
    ckpt = load_checkpoint(out / "last.pt")
    assert "\r" not in ckpt["vocab"] and "\n" in ckpt["vocab"]
    config = json.loads((out / "config.json").read_text())
    assert config["corpus"]["crlf_normalised"] > 100 and config["train"]["keep_crlf"] is False
    capsys.readouterr()
    assert run(["--no-ui", "sample", str(out), "--max-new-tokens", "200"]) == 0
    assert "\r" not in capsys.readouterr().out  # samples print LF, not glued words
    kept = tmp_path / "kept"
    assert run(tiny(corpus, kept, "--max-iters", "3", "--keep-crlf")) == 0
    assert "\r" in load_checkpoint(kept / "last.pt")["vocab"]


def test_early_evals_come_by_time_on_a_slow_run(corpus_file: Path, tmp_path: Path) -> None:
    from charlm_tui.core.runs.events import EvalEvent
    from charlm_tui.core.training.clock import EarlyTimes

    early = EarlyTimes(15.0)  # at 15, 30, 60 and 120 s of training, then by steps only
    assert [t for t in (5, 15, 20, 30) if early.due(t)] == [15, 20, 30]
    early.ran(15.0)
    assert not early.due(20) and early.due(30)
    early.ran(31.0)  # an eval by steps at 31 s counts: the next early one is at 60
    assert not early.due(59) and early.due(60)
    early.ran(60.0), early.ran(120.0)
    assert not early.due(10_000)
    assert not EarlyTimes(15.0, elapsed_before=200.0).due(250)  # a resumed run had them
    assert not EarlyTimes(0.0).due(1e9)
    # and in a real run: evals between the ones by steps
    training = new_training(
        corpus_file, tmp_path / "run", max_iters=400, eval_interval=10**6, early_eval_s=0.02
    )
    events = Collect()
    training.run(events)
    evals = [e.iter for e in events.events if isinstance(e, EvalEvent)]
    assert evals[0] == 0 and evals[-1] == 400 and len(evals) >= 3, evals


def test_a_pause_is_told_and_does_not_count_as_training(corpus_file: Path, tmp_path) -> None:
    from charlm_tui.core.runs.control import write_control

    out = tmp_path / "run"
    training = new_training(corpus_file, out, max_iters=20, eval_interval=10)

    def pause_at_5(event) -> None:
        if isinstance(event, StepEvent) and event.iter == 5:
            write_control(out, paused=True)
        elif isinstance(event, NoteEvent) and event.text.startswith("paused"):
            write_control(out, paused=False)  # resumed once the pause is told

    done = training.run(Collect(pause_at_5))
    notes = [e.text for e in read_records(out / "metrics.jsonl") if isinstance(e, NoteEvent)]
    assert notes[0].startswith("paused by a request") and notes[1] == "resumed"
    assert done.reason == "finished"


def test_the_clock_leaves_pauses_out(monkeypatch) -> None:
    import charlm_tui.core.training.clock as clock_module
    from charlm_tui.core.config import RunLength
    from charlm_tui.core.training.clock import Clock

    now = [100.0]
    monkeypatch.setattr(clock_module.time, "perf_counter", lambda: now[0])
    clock = Clock(RunLength(seconds=60.0), elapsed_before=5.0)
    now[0] = 110.0
    clock.add_pause(4.0)  # 4 of those 10 seconds were a pause
    assert clock.elapsed() == 11.0 and clock.eta(0) == 49.0
    assert not clock.finished(0) and clock.progress(0) == pytest.approx(11 / 60)


# -- races and links inside a run folder ---------------------------------------------------


def test_a_resume_never_undoes_a_training_that_ends_while_it_starts(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training already in the folder tries to go on and end between the resume
    reading its checkpoint and claiming the folder (the window a real race hits): the
    resume holds the lock from before it reads, so that training is refused instead of
    having its records and newer last.pt undone by a resume from a stale one."""
    from charlm_tui.core.training.distributed import DistInfo
    from charlm_tui.core.training.plan import plan_resume
    from charlm_tui.core.training.trainer import execute
    from tests.train_helpers import resumed_training

    out = tmp_path / "run"
    new_training(corpus_file, out, max_iters=20, eval_interval=10).run()
    real_claim = RunDirectory.claim
    other: list[object] = []

    def claim_after_the_other_tried(self, *args, **kwargs):
        if not other:
            other.append("trying")
            try:
                other.append(resumed_training(out, max_iters=40).run())
            except CharLMError as e:
                other.append(e)
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(RunDirectory, "claim", claim_after_the_other_tried)
    done = execute(plan_resume(out, "last", {"max_iters": 60}), DistInfo())
    assert isinstance(other[-1], CharLMError) and "in use by another training" in str(other[-1])
    records = read_records(out / "metrics.jsonl")
    starts = [(e.iter, e.resumed) for e in records if e.EVENT == "start"]
    assert starts == [(0, False), (20, True)]  # one resume, from the checkpoint it read
    assert [e.iter for e in records if isinstance(e, DoneEvent)] == [20, 60]
    assert done.reason == "finished" and load_checkpoint(out / "last.pt")["iter"] == 60


def test_a_lock_or_records_linked_elsewhere_are_refused_and_the_target_kept(
    corpus_file: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    assert run(tiny(corpus_file, out, "--max-iters", "10")) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    (out / LOCK).unlink()
    (out / LOCK).symlink_to(victim)
    capsys.readouterr()
    assert run(tiny(corpus_file, out, "--resume", "--max-iters", "20")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "symbolic link" in err[0] and ".lock" in err[0]
    assert victim.read_text() == "mine\n"  # not truncated, no pid written into it
    (out / LOCK).unlink()
    # train.log, appended to by the dashboard's training child: never through a link
    from charlm_tui.tui.process import TrainingProcess

    (out / "train.log").symlink_to(victim)
    with pytest.raises(CharLMError, match="symbolic link"):
        TrainingProcess(out, [sys.executable, "-c", "pass"]).start()
    assert victim.read_text() == "mine\n"


def test_export_never_writes_through_a_tb_link_or_over_a_file(
    corpus_file: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorboard")
    other, mine = tmp_path / "other", tmp_path / "mine"
    for out in (other, mine):
        assert run(tiny(corpus_file, out, "--max-iters", "10")) == 0
    assert run(["export", str(other), "--tensorboard"]) == 0
    theirs = {p.name: p.read_bytes() for p in (other / "tb").iterdir()}
    (mine / "tb").symlink_to(other / "tb")
    capsys.readouterr()
    assert run(["export", str(mine), "--tensorboard", "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "symbolic link" in err[0]
    assert {p.name: p.read_bytes() for p in (other / "tb").iterdir()} == theirs
    (mine / "tb").unlink()
    (mine / "tb").write_text("a file of mine\n")
    assert run(["export", str(mine), "--tensorboard", "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0]
    assert (mine / "tb").read_text() == "a file of mine\n"
    (mine / "tb").unlink()
    from charlm_tui.core.interop.tensorboard import TensorBoardSink

    def read_only(self, start):  # what a read-only run folder does to the writer
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(TensorBoardSink, "_open", read_only)
    assert run(["export", str(mine), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0] and "Permission denied" in err[0]
