"""Tags and notes: --tag and --notes on train and ladder, labels.json, and the run view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import build
from charlm_tui.core.runs.labels import LABELS, Labels, labels_from, read_labels, write_labels
from charlm_tui.core.runs.view import RunView
from charlm_tui.tui.cli import run
from charlm_tui.tui.cli.training.train import plan_of


def test_train_writes_the_tags_and_notes_given(tiny_args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "r"
    argv = ["--no-ui", "train", *tiny_args, "--out", str(out)]
    assert run([*argv, "--tag", "baseline", "--tag", "gpt", "--tag", "baseline",
                "--notes", "  one head, no dropout  "]) == 0  # fmt: skip
    saved = json.loads((out / LABELS).read_text(encoding="utf-8"))
    assert saved == {"tags": ["baseline", "gpt"], "notes": "one head, no dropout"}
    view = RunView(out)
    view.update()
    assert view.labels.tags == ("baseline", "gpt")


def test_a_resume_keeps_the_labels_unless_it_gives_new_ones(
    tiny_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--tag", "first"]) == 0
    resume = ["--no-ui", "train", "--out", str(out), "--resume", "--max-iters", "40"]
    assert run(resume) == 0
    assert read_labels(out).tags == ("first",)
    assert run([*resume[:-1], "60", "--notes", "longer"]) == 0
    assert read_labels(out) == Labels(("first",), "longer")  # the tags it was not given stay


def test_overwrite_drops_the_replaced_runs_labels(tiny_args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--tag", "old"]) == 0
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--overwrite"]) == 0
    assert not (out / LABELS).exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tag", "two words"], "--tag must be one word"),
        (["--tag", "a,b"], "--tag must be one word"),
        (["--tag", ""], "--tag must not be empty"),
        (["--notes", "bell\x07"], "--notes must not hold control characters"),
    ],
)
def test_a_bad_label_is_one_line_and_writes_nothing(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    args: list[str], says: str,
) -> None:  # fmt: skip
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_dashboards_child_gets_the_labels(tiny_args: list[str], tmp_path: Path) -> None:
    plan = plan_of([*tiny_args, "--out", str(tmp_path / "r")])
    labelled = plan.__class__(**{**vars(plan), "labels": Labels(("a", "b"), "n")})
    argv = labelled.argv()
    assert argv[argv.index("--tag=a") + 1] == "--tag=b" and "--notes=n" in argv


def test_labels_from_a_stranger_are_checked(tmp_path: Path) -> None:
    assert labels_from({"tags": ["ok"], "notes": ""}) == Labels(("ok",), "")
    for bad in (
        [],
        {"tags": "ok"},
        {"tags": [1]},
        {"tags": ["\x1b]0;pwn\x07"]},
        {"notes": 3},
        {"tags": ["t"] * 100},
    ):
        assert labels_from(bad) is None, bad
    (tmp_path / LABELS).write_text("{not json", encoding="utf-8")
    assert read_labels(tmp_path) == Labels()


def test_write_labels_never_follows_a_link_and_empties_remove_the_file(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep", encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LABELS).symlink_to(target)
    write_labels(run_dir, Labels(("t",), ""))
    assert target.read_text(encoding="utf-8") == "keep"  # the link was replaced, not followed
    assert read_labels(run_dir).tags == ("t",)
    write_labels(run_dir, Labels())
    assert not (run_dir / LABELS).exists()


def test_too_many_tags_is_refused() -> None:
    with pytest.raises(CharLMError, match="at most 20 tags"):
        build(Labels, {"tag": tuple(f"t{i}" for i in range(21))})


def test_compare_and_the_report_show_tags_and_notes(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from charlm_tui.core.runs.listing import load_runs
    from charlm_tui.tui.tables import matches, row_of

    a, b = tmp_path / "a", tmp_path / "b"
    notes = "tried | pipes\nand a second line"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(a), "--tag", "base",
                "--tag", "héllo", "--notes", notes]) == 0  # fmt: skip
    assert run(["--no-ui", "train", *tiny_args, "--out", str(b)]) == 0
    capsys.readouterr()
    assert run(["--no-ui", "compare", str(a), str(b), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.splitlines()[0].startswith("| run | tags | model")
    assert "| a | base héllo |" in md and "- a: tried \\| pipes and a second line" in md
    assert run(["--no-ui", "compare", str(a), str(b), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["tags"] == ["base", "héllo"] and records[0]["notes"] == notes
    assert records[1]["tags"] == [] and records[1]["notes"] == ""
    assert run(["--no-ui", "compare", str(a), str(b), "--format", "csv"]) == 0
    assert "base héllo" in capsys.readouterr().out
    rows = [row_of(v) for v in load_runs([a, b])]
    assert [r.name for r in rows if matches(r, "héllo")] == ["a"]
    assert [r.name for r in rows if matches(r, "pipes")] == ["a"]
    report = tmp_path / "log.md"
    assert run(["report", str(a), str(b), "-o", str(report)]) == 0
    text = report.read_text(encoding="utf-8")
    assert "Tags: base héllo" in text and "Notes: tried \\| pipes" in text
    assert "a \\[base héllo\\]" in text  # the results table's run cell
    html = tmp_path / "log.html"
    assert run(["report", str(a), "-o", str(html)]) == 0
    assert "Tags: base héllo" in html.read_text(encoding="utf-8")


def test_tensorboard_carries_the_tags_and_notes(tiny_args: list[str], tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = tmp_path / "r"
    argv = ["--no-ui", "train", *tiny_args, "--out", str(out), "--tag", "base", "--tag", "x"]
    assert run([*argv, "--notes", "# not a heading", "--tensorboard"]) == 0
    acc = EventAccumulator(str(out / "tb"), size_guidance={"tensors": 0})
    acc.Reload()
    (label,) = acc.Tensors("labels/text_summary")
    text = label.tensor_proto.string_val[0].decode()
    assert "tags: base x" in text and "    notes: # not a heading" in text  # code: as typed
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["tags"].string_value == "base x"


def test_a_resume_given_tags_keeps_the_notes(tiny_args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--tag", "a",
                "--notes", "keep me"]) == 0  # fmt: skip
    resume = ["--no-ui", "train", "--out", str(out), "--resume", "--max-iters", "40"]
    assert run([*resume, "--tag", "b"]) == 0
    assert read_labels(out) == Labels(("b",), "keep me")


def test_a_start_refused_by_a_training_in_the_folder_touches_nothing_of_it(
    tiny_args: list[str], tmp_path: Path
) -> None:
    from charlm_tui.core.runs.rundir import RunLock

    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    lock = RunLock(out)
    lock.acquire()  # as a training running there holds it
    try:
        writing = out / ".charlm-last.pt.1234.tmp"  # its checkpoint, half-written
        writing.write_bytes(b"partial")
        argv = ["--no-ui", "train", *tiny_args, "--out", str(out), "--overwrite", "--tag", "x"]
        assert run(argv) == 2
        assert writing.read_bytes() == b"partial" and not (out / LABELS).exists()
    finally:
        lock.release()
