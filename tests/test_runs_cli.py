"""`charlm-tui runs`: its tags column, `--tag` filters and `--format json|csv`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from charlm_tui.core.runs.labels import Labels, write_labels
from charlm_tui.tui.cli import run
from tests.tui_helpers import fake_run

NOTES = 'lr 3e-3, "too high"?\nnext: 1e-3 ☃'


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_labels(fake_run(root, "alpha", iters=100), Labels(("Baseline", "gpt"), NOTES))
    write_labels(fake_run(root, "beta", iters=100, age_s=60), Labels(("baseline",), ""))
    fake_run(root, "evil\x1b]2;x\x07", iters=100, age_s=120)  # a name anyone could give
    return root


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert run(["runs", *argv]) == 0
    return capsys.readouterr().out


def test_the_table_has_a_tags_column_when_a_run_has_tags(runs: Path, capsys, tmp_path) -> None:
    table = listed(capsys, str(runs))
    header = table.splitlines()[0]
    assert "tags" in header and "Baseline gpt" in table
    assert "\x1b" not in table and "evil\\x1b]2;x\\x07" in table  # shown, never raw
    fake_run(tmp_path, "plain", iters=100)
    assert "tags" not in listed(capsys, str(tmp_path)).splitlines()[0]


def test_tags_filter_every_tag_given_ignoring_case(runs: Path, capsys) -> None:
    def names(*tags: str) -> list[str]:
        argv = [str(runs), "--format", "json"] + [a for t in tags for a in ("--tag", t)]
        return [r["name"] for r in json.loads(listed(capsys, *argv))]

    assert names("baseline") == ["beta", "alpha"]  # newest first, Baseline too
    assert names("BASELINE", "gpt") == ["alpha"]  # every tag given
    assert names("gpt", "nope") == []
    assert "is tagged nope" in listed(capsys, str(runs), "--tag", "nope")


def test_json_carries_every_column_and_the_exact_text(runs: Path, capsys) -> None:
    out = listed(capsys, str(runs), "--format", "json")
    assert out.isascii()  # JSON's escapes: nothing raw reaches a terminal
    records = {r["name"]: r for r in json.loads(out)}
    alpha = records["alpha"]
    assert alpha["tags"] == ["Baseline", "gpt"] and alpha["notes"] == NOTES
    assert alpha["path"] == str(runs / "alpha") and alpha["status"] == "finished"
    assert alpha["iter"] == 100 and alpha["params"] > 0 and alpha["best_val"] > 0
    assert alpha["checkpoints"] == ["best.pt", "last.pt"] and alpha["ladder"] is None
    assert alpha["best_val_source"] == "estimate" and alpha["corpus"] == "play.txt"
    assert records["evil\x1b]2;x\x07"]["tags"] == []  # the exact name, once parsed


def test_csv_quotes_every_cell_and_keeps_the_exact_text(runs: Path, capsys) -> None:
    out = listed(capsys, str(runs), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["beta", "evil\x1b]2;x\x07", "alpha"]  # newest first
    alpha = rows[2]
    assert alpha["notes"] == NOTES and alpha["tags"] == "Baseline,gpt"
    assert alpha["checkpoints"] == "best.pt,last.pt" and alpha["ladder"] == ""
    assert float(alpha["best_val"]) > 0 and alpha["status"] == "finished"
    for line in csv.reader(io.StringIO(out)):
        assert len(line) == 16
    first = out.splitlines()[1]
    assert first.startswith('"beta","') and ',"100",' in first  # numbers quoted too


def test_no_runs_as_data_is_an_empty_list(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert json.loads(listed(capsys, str(tmp_path / "empty"), "--format", "json")) == []
    header = listed(capsys, str(tmp_path / "empty"), "--format", "csv")
    assert header.startswith('"name","path"') and len(header.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--tag", "a b"], "--tag must be one word"),
        (["--tag", ""], "--tag must not be empty"),
        (["--format", "xml"], "'xml' is not one of"),
    ],
)
def test_bad_options_are_one_line_errors(runs: Path, capsys, argv: list[str], error: str) -> None:
    assert run(["runs", str(runs), *argv]) == 2
    err = capsys.readouterr().err
    assert error in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_tags_column_is_bounded_on_a_terminal_and_whole_in_a_pipe(tmp_path: Path) -> None:
    from rich.cells import cell_len

    from charlm_tui.core.runs.listing import list_runs
    from charlm_tui.tui.tables import TAGS_CELLS, runs_table

    tags = tuple(f"tag{i}-模型" for i in range(8))
    write_labels(fake_run(tmp_path, "r", iters=100), Labels(tags, ""))
    views = list_runs(tmp_path)
    columns, rows = runs_table(views, 0.0, 200)
    assert "tags" in columns and cell_len(rows[0]["tags"]) == TAGS_CELLS
    assert rows[0]["tags"].startswith("tag0-模型 tag1") and rows[0]["tags"].endswith("…")
    _, whole = runs_table(views, 0.0, None)
    assert whole[0]["tags"] == " ".join(tags)
    columns, rows = runs_table(views, 0.0, 45)  # no room even cut: the column goes
    assert "tags" not in columns and columns[-2:] == ("status", "age")
