"""Renaming and deleting runs (core/runs/manage.py): what is refused, and what is left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.manage import delete_run, rename_run
from charlm_tui.core.runs.rundir import LADDER, LOCK, RunLock


def make_run(root: Path, name: str) -> Path:
    """A run folder as listing and the checks see one: config.json with its sections."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": {"model": "bigram"}, "train": {}}))
    (run / "metrics.jsonl").write_text("")
    return run


def test_rename_moves_the_folder_and_keeps_its_files(tmp_path: Path) -> None:
    run = make_run(tmp_path, "old")
    (run / "labels.json").write_text('{"tags": ["a"], "notes": ""}')
    new = rename_run(run, "new ☃")
    assert new == tmp_path / "new ☃" and not run.exists()
    assert sorted(p.name for p in new.iterdir()) == ["config.json", "labels.json", "metrics.jsonl"]
    assert rename_run(new, "new ☃") == new  # its own name: nothing to do


def test_rename_refuses_a_name_taken_even_by_an_empty_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path, "a")
    make_run(tmp_path, "b")
    (tmp_path / "empty").mkdir()  # os.rename would silently replace an empty folder
    (tmp_path / "file").write_text("x")
    for taken in ("b", "empty", "file"):
        with pytest.raises(CharLMError, match="exists: choose another name"):
            rename_run(run, taken)
    assert run.is_dir() and (tmp_path / "empty").is_dir() and (tmp_path / "file").is_file()


@pytest.mark.parametrize("name", ["", ".", "..", "x/y", "../out", "a\\b"])
def test_rename_refuses_anything_but_a_plain_folder_name(tmp_path: Path, name: str) -> None:
    run = make_run(tmp_path, "a")
    with pytest.raises(CharLMError, match="plain folder name"):
        rename_run(run, name)
    assert run.is_dir()


def test_a_training_run_is_neither_renamed_nor_deleted(tmp_path: Path) -> None:
    run = make_run(tmp_path, "busy")
    lock = RunLock(run)
    lock.acquire()
    try:
        with pytest.raises(CharLMError, match="busy is training"):
            rename_run(run, "other")
        with pytest.raises(CharLMError, match="busy is training"):
            delete_run(run)
        assert run.is_dir() and not (tmp_path / "other").exists()
    finally:
        lock.release()
    assert not RunLock.held(run)
    delete_run(run)  # once it stopped, it goes
    assert not run.exists()


def test_a_lock_released_by_its_trainer_does_not_block(tmp_path: Path) -> None:
    run = make_run(tmp_path, "was-busy")
    lock = RunLock(run)
    lock.acquire()
    lock.release()
    assert (run / LOCK).is_file()
    assert rename_run(run, "done") == tmp_path / "done"


def test_a_symlinked_run_folder_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    elsewhere = make_run(tmp_path / "elsewhere", "precious")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "link").symlink_to(elsewhere)
    for act in (lambda: delete_run(runs / "link"), lambda: rename_run(runs / "link", "x")):
        with pytest.raises(CharLMError, match="symbolic link"):
            act()
    assert (runs / "link").is_symlink() and (elsewhere / "config.json").is_file()


def test_delete_removes_links_inside_the_run_not_what_they_point_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    run = make_run(tmp_path / "runs", "r")
    (run / "tb").symlink_to(outside)  # a folder link
    (run / "best.pt").symlink_to(outside / "keep.txt")  # a file link
    (run / "generations").mkdir()
    (run / "generations" / "x.txt").write_text("gone")
    delete_run(run)
    assert not run.exists()
    assert (outside / "keep.txt").read_text() == "mine"


def test_a_folder_that_is_not_a_run_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "best.pt").write_text("looks like a run, is not one")  # is_run_dir says yes
    (folder / "config.json").write_text('{"camera": "x"}')
    for act in (lambda: delete_run(folder), lambda: rename_run(folder, "y")):
        with pytest.raises(CharLMError, match="not a charlm-tui run"):
            act()
    assert sorted(p.name for p in folder.iterdir()) == ["best.pt", "config.json"]
    with pytest.raises(CharLMError, match="no such run"):
        delete_run(tmp_path / "missing")


def test_a_ladder_rung_keeps_its_name_but_can_be_deleted(tmp_path: Path) -> None:
    ladder = tmp_path / "ladder-x"
    rung = make_run(ladder, "bigram")
    make_run(ladder, "gpt")
    (ladder / LADDER).write_text(json.dumps({"rungs": ["bigram", "gpt"]}))
    with pytest.raises(CharLMError, match="rung of the ladder ladder-x"):
        rename_run(rung, "renamed")
    delete_run(rung)
    assert sorted(p.name for p in ladder.iterdir()) == ["gpt", LADDER]
