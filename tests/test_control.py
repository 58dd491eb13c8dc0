"""Steering through control.json: no request is lost, a stale file steers nothing."""

from __future__ import annotations

import os
from pathlib import Path

from core.control import CONTROL_NAME, Control, ControlFile, request, write_control


def same_tick(run: Path, like: os.stat_result) -> None:
    """Give control.json the mtime it had before: a write within one kernel clock tick."""
    os.utime(run / CONTROL_NAME, ns=(like.st_atime_ns, like.st_mtime_ns))


def test_a_request_in_the_same_clock_tick_is_seen(tmp_path: Path) -> None:
    control, file = Control(), ControlFile(tmp_path)
    file.poll(control)
    before = (tmp_path / CONTROL_NAME).stat()
    request(tmp_path, "save")  # same size as the file it replaces
    same_tick(tmp_path, before)
    file.poll(control)
    assert control.save_now.is_set()


def test_a_request_before_the_first_poll_is_seen(tmp_path: Path) -> None:
    control, file = Control(), ControlFile(tmp_path)
    before = (tmp_path / CONTROL_NAME).stat()
    write_control(tmp_path, stop=True)
    same_tick(tmp_path, before)
    file.poll(control)
    assert control.stop_reason == "stopped"


def test_a_stale_file_from_an_earlier_run_does_not_steer(tmp_path: Path) -> None:
    write_control(tmp_path, stop=True, paused=True, save=3, sample=2)
    control, file = Control(), ControlFile(tmp_path)
    file.poll(control)
    assert control.stop_reason is None and not control.paused.is_set()
    assert not control.save_now.is_set() and not control.sample_now.is_set()
    request(tmp_path, "sample")  # counters restart from zero: 1 is a new request
    file.poll(control)
    assert control.sample_now.is_set() and not control.save_now.is_set()


def test_pause_then_resume_then_stop(tmp_path: Path) -> None:
    control, file = Control(), ControlFile(tmp_path)
    write_control(tmp_path, paused=True)
    file.poll(control)
    assert control.paused.is_set()
    write_control(tmp_path, paused=False)
    file.poll(control)
    assert not control.paused.is_set()
    write_control(tmp_path, stop=True, paused=True)  # stop wins over pause
    file.poll(control)
    assert control.stop_reason == "stopped" and not control.paused.is_set()
