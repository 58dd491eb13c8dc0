"""What a run ran on: provenance.json, one session a start, and the differences compare and
the report show."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import torch

from charlm_tui.core.runs.provenance import (
    PROVENANCE,
    command_line,
    differing,
    read_provenance,
)
from charlm_tui.tui.cli import run


def test_a_run_records_what_it_ran_on_and_a_resume_adds_a_session(
    tiny_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    (first,) = read_provenance(out)
    assert first["torch"] == torch.__version__ and first["device"] == "cpu"
    assert first["ended"] == "finished" and first["wall_s"] > 0
    assert first["cores"] >= 1 and first["threads"] >= 1 and first["python"].count(".") == 2
    assert "--out" in first["command"] and first["command"].startswith("charlm-tui")
    # run from this checkout: its commit, and whether tracked files differ from it
    assert re.fullmatch(r"[0-9a-f]{40}", first["commit"]) and isinstance(first["dirty"], bool)
    text = (out / PROVENANCE).read_text(encoding="utf-8")
    assert socket.gethostname() not in text
    assert run(["--no-ui", "train", "--out", str(out), "--resume", "--max-iters", "40"]) == 0
    sessions = read_provenance(out)
    assert len(sessions) == 2 and "--resume" in sessions[1]["command"]
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--overwrite"]) == 0
    assert len(read_provenance(out)) == 1  # the replaced run's sessions went with it


def test_the_home_folder_is_written_as_a_tilde(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/alice")
    assert command_line(["charlm-tui", "--data", "/home/alice/books.txt"]) == (
        "charlm-tui --data ~/books.txt"
    )
    assert command_line(["--out=/home/alice", "/home/alicia/x"]) == "--out=~ /home/alicia/x"


def test_a_strangers_provenance_is_read_with_care(tmp_path: Path) -> None:
    (tmp_path / PROVENANCE).write_text(
        json.dumps({"sessions": [{"torch": "1", "evil": {"nested": 1}}, "junk", 3]}),
        encoding="utf-8",
    )
    assert read_provenance(tmp_path) == [{"torch": "1"}]
    (tmp_path / PROVENANCE).write_text("[1, 2", encoding="utf-8")
    assert read_provenance(tmp_path) == []


def test_only_fields_that_differ_are_listed() -> None:
    a = {"torch": "2.13.0", "python": "3.11.7", "started": 1.0, "command": "x"}
    b = {"torch": "2.12.0", "python": "3.11.7", "started": 2.0, "command": "y"}
    assert differing([a, b]) == {"torch": ["2.13.0", "2.12.0"]}
    assert differing([a, {}]) == {"torch": ["2.13.0", None], "python": ["3.11.7", None]}
    assert differing([a, a]) == {}


def test_compare_and_the_report_show_where_runs_ran_differently(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    capsys.readouterr()
    assert run(["--no-ui", "compare", str(a), str(b), "--format", "markdown"]) == 0
    assert "Ran with different" not in capsys.readouterr().out  # same machine, same torch
    data = json.loads((b / PROVENANCE).read_text(encoding="utf-8"))
    data["sessions"][-1]["torch"] = "2.12.0"
    (b / PROVENANCE).write_text(json.dumps(data), encoding="utf-8")
    assert run(["--no-ui", "compare", str(a), str(b), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert f"- torch: a {torch.__version__}, b 2.12.0" in md
    assert "python" not in md.split("Ran with different")[1].split("val:")[0]
    assert run(["--no-ui", "compare", str(a), str(b), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[1]["ran_with"]["torch"] == "2.12.0"
    report = tmp_path / "log.md"
    assert run(["report", str(a), str(b), "-o", str(report)]) == 0
    assert re.search(r"ran with: torch \| [^|]+ \| 2\.12\.0", report.read_text(encoding="utf-8"))


def test_runs_and_home_show_it_on_demand(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from charlm_tui.tui.app import CharLMApp
    from tests.waiting import wait_for

    runs = tmp_path / "runs"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(runs / "a")]) == 0
    data = json.loads((runs / "a" / PROVENANCE).read_text(encoding="utf-8"))
    data["sessions"][-1]["cpu"] = "Evil\x1b]0;pwn\x07 CPU"  # a stranger's file
    (runs / "a" / PROVENANCE).write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    assert run(["runs", str(runs), "--provenance"]) == 0
    out = capsys.readouterr().out
    assert "a: charlm-tui " in out and f"torch {torch.__version__}" in out
    assert "\x1b" not in out and "Evil\\x1b]0;pwn\\x07 CPU" in out
    assert run(["runs", str(runs), "--provenance", "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["provenance"][-1]["torch"] == torch.__version__
    assert run(["runs", str(runs), "--provenance", "--format", "csv"]) == 0
    assert '"ran_with"' in capsys.readouterr().out.splitlines()[0]

    async def scenario() -> None:
        app = CharLMApp(runs_dir=runs)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: bool(getattr(app.screen, "runs", None)), "the runs")
            await pilot.press("P")

            def told() -> str:
                return " ".join(str(n.message) for n in app._notifications)

            await wait_for(pilot, lambda: "torch" in told(), "the provenance notification")
            assert "\x1b" not in told() and "--out" in told()

    asyncio.run(scenario())
