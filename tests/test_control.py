"""control.json: no request is lost; a stale or malformed file steers and stops nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from charlm_tui.core.runs.control import read_control, request, write_control
from charlm_tui.core.runs.rundir import CONTROL, RunDirectory
from charlm_tui.core.training.distributed import DistInfo
from charlm_tui.core.training.steering import BY_SIGNAL, STOPS, Steering, Stop


def steering(run: Path) -> Steering:
    """The trainer's side, as a training sets it up: the run directory claimed first."""
    claimed = RunDirectory(run)
    claimed.claim({"model": {}, "train": {}}, 1, overwrite=False, resume_iter=None)
    claimed.close()
    return Steering(run, DistInfo(), torch.device("cpu"))


def same_tick(run: Path, like: os.stat_result) -> None:
    """Give control.json the mtime it had before: a write within one kernel clock tick."""
    os.utime(run / CONTROL, ns=(like.st_atime_ns, like.st_mtime_ns))


def test_a_request_in_the_same_clock_tick_is_seen(tmp_path: Path) -> None:
    steer = steering(tmp_path)
    steer.decide(False)
    before = (tmp_path / CONTROL).stat()
    request(tmp_path, "save")  # same size as the file it replaces
    same_tick(tmp_path, before)
    assert steer.decide(False).save


def test_a_request_before_the_first_poll_is_seen(tmp_path: Path) -> None:
    steer = steering(tmp_path)
    before = (tmp_path / CONTROL).stat()
    write_control(tmp_path, stop=True)
    same_tick(tmp_path, before)
    assert steer.decide(False).stop == STOPS[0]


def test_a_stale_file_from_an_earlier_run_does_not_steer(tmp_path: Path) -> None:
    write_control(tmp_path, stop=True, paused=True, save=3, sample=2)
    steer = steering(tmp_path)
    d = steer.decide(False)
    assert d.stop is None and not d.paused and not d.save and not d.sample
    request(tmp_path, "sample")  # counters restart from zero: 1 is a new request
    d = steer.decide(False)
    assert d.sample and not d.save
    assert not steer.decide(False).sample  # one request, one sample


def test_pause_then_resume_then_stop(tmp_path: Path) -> None:
    steer = steering(tmp_path)
    write_control(tmp_path, paused=True)
    assert steer.decide(False).paused
    write_control(tmp_path, paused=False)
    assert not steer.decide(False).paused
    write_control(tmp_path, stop=True, paused=True)  # stop wins over pause
    d = steer.decide(False)
    assert d.stop == STOPS[0] and not d.paused


@pytest.mark.parametrize(
    "content",
    [b'{"save": "abc"}', b"null", b'{"save": 1e999}', b"\xff\xfe{", b'{"paused": 1}', b"[1, 2]"],
)
def test_a_malformed_control_file_is_ignored_with_a_note(tmp_path: Path, content: bytes) -> None:
    steer = steering(tmp_path)
    write_control(tmp_path, paused=True)
    assert steer.decide(False).paused
    (tmp_path / CONTROL).write_bytes(content)
    d = steer.decide(False)  # the last good requests stand; nothing crashes
    assert d.paused and d.stop is None
    assert len(steer.notes) == 1 and "control.json ignored" in steer.notes[0]


def test_a_signal_stop_carries_its_reason_and_exit_code(tmp_path: Path) -> None:
    steer = steering(tmp_path)
    steer.request_stop(BY_SIGNAL[signal.SIGHUP])
    steer.request_stop(BY_SIGNAL[signal.SIGINT])  # the first reason stands
    assert steer.decide(False).stop == Stop("terminated", 129)


WRITER = """
import sys
from pathlib import Path
from charlm_tui.core.runs.control import request, steer_run
run, n = Path(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    request(run, "save")
    steer_run(run, lr_factor=0.99)
"""


def test_concurrent_writers_lose_no_update(tmp_path: Path) -> None:
    """Two processes, each asking 60 times for one more save and 0.99 times the learning
    rate: every request counts (read, change and write happen under one lock)."""
    import subprocess
    import sys

    steering(tmp_path)  # control.json as a training writes it at its start
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "60"]) for _ in range(2)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    control = read_control(tmp_path)
    assert control["save"] == 120
    assert control["lr_scale"] == pytest.approx(0.99**120)
