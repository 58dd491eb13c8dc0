"""Runs from files: `train --config FILE`, `charlm-tui config RUN`, `train --from RUN`, and
the new-run form started from a run."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charlm_tui.core.config_file import toml_string
from charlm_tui.core.runs.labels import read_labels
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.cli import run
from charlm_tui.tui.cli.training.train import plan_of
from charlm_tui.tui.screens.new_run import NewRunScreen, parse_form
from tests.waiting import wait_for


def sections(run_dir: Path) -> dict:
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    return {k: config[k] for k in ("model", "train", "corpus", "n_params")}


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


@pytest.fixture()
def odd_corpus(tmp_path: Path) -> Path:
    """A corpus whose path needs TOML's escapes (quotes, a backslash, Unicode), and whose
    text has a tab for a prompt that needs one."""
    folder = tmp_path / 'odd "dir" \\ ünï'
    folder.mkdir()
    path = folder / "play.txt"
    path.write_text("the\tking and the queen of night, thy fair heart\n" * 300, encoding="utf-8")
    return path


def test_config_round_trips_to_the_same_config_json(
    odd_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first"
    argv = ["--no-ui", "train", "--preset", "tiny", "--data", str(odd_corpus), "--lr", "2e-3",
            "--max-iters", "12", "--sample-prompt", "the\tk", "--no-bias", "--out",
            str(first)]  # fmt: skip
    assert run(argv) == 0
    capsys.readouterr()
    assert run(["config", str(first)]) == 0
    toml = capsys.readouterr().out
    assert "\t" not in toml and "\x1b" not in toml  # escaped: printed on terminals
    assert tomllib.loads(toml)["data"] == str(odd_corpus)
    (tmp_path / "r.toml").write_text(toml, encoding="utf-8")
    again = tmp_path / "again"
    assert run(["--no-ui", "train", "--config", str(tmp_path / "r.toml"), "--out", str(again)]) == 0
    assert sections(again) == sections(first)


def test_flags_override_the_file_and_a_length_flag_replaces_the_files(
    corpus_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        f'preset = "tiny"\ndata = "{corpus_file}"\nmax-iters = 40\nn_layer = 2\nlr = 1e-3\n'
        'tag = ["from-file"]\nnotes = "a file"\n',
        encoding="utf-8",
    )
    plan = plan_of(["--config", str(path), "--lr", "5e-3", "--time-budget", "9"])
    assert plan.mcfg.n_layer == 2 and plan.tcfg.lr == 5e-3
    assert plan.tcfg.time_budget == 9 and plan.tcfg.max_iters is None
    out = tmp_path / "run"
    assert run(["--no-ui", "train", "--config", str(path), "--out", str(out), "--tag", "x"]) == 0
    labels = read_labels(out)
    assert labels.tags == ("x",) and labels.notes == "a file"  # a flag replaces, as for all


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("n_layers = 2\n", "r.toml:1: unknown option 'n_layers'; did you mean 'n_layer'?"),
        ("# a comment\n\nlr = -1\n", "r.toml:3: lr must be greater than 0, not -1.0"),
        ('lr = 1e-3\nbatch-size = "big"\n', "r.toml:2: batch_size must be a whole number"),
        ('optimizer = "sgd"\n', "r.toml:1: optimizer must be one of adamw, muon"),
        ("lr = \n", "not valid TOML"),
        ("[model]\nn_layer = 2\n", "r.toml:1: [model] is a section"),
        ("n_layer = 2\nn-layer = 3\n", "given twice"),
        ("vocab_size = 3\n", "unknown option 'vocab_size'"),
        ('tag = ["two words"]\n', "r.toml:1: tag must be one word"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "never"
    assert run(["--no-ui", "train", "--config", str(path), "--out", str(out)]) == 2
    assert says in one_line_error(capsys)
    assert not out.exists()


def test_a_config_that_is_not_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--no-ui", "train", "--config", str(tmp_path)]) == 2
    assert "not a regular file" in one_line_error(capsys)
    (tmp_path / "bin.toml").write_bytes(b"lr = 1\n\xff\n")
    assert run(["--no-ui", "train", "--config", str(tmp_path / "bin.toml")]) == 2
    assert "not UTF-8" in one_line_error(capsys)


def test_from_starts_a_new_run_from_an_old_ones_configuration(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    assert run(["--no-ui", "train", *tiny_args, "--lr", "2e-3", "--out", str(old)]) == 0
    new = tmp_path / "new"
    assert run(["--no-ui", "train", "--from", str(old), "--n-embd", "48", "--out", str(new)]) == 0
    a, b = sections(old), sections(new)
    assert b["model"]["n_embd"] == 48 and b["train"]["lr"] == 2e-3
    assert {k: v for k, v in b["model"].items() if k != "n_embd"} == {
        k: v for k, v in a["model"].items() if k != "n_embd"
    }
    assert b["train"] == a["train"]
    assert run(["--no-ui", "train", "--from", str(old), "--resume", "--out", str(old)]) == 2
    assert "--from starts a new run" in one_line_error(capsys)
    assert run(["--no-ui", "train", "--from", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no charlm-tui config.json" in one_line_error(capsys)
    assert run(["config", str(tmp_path / "nothing")]) == 2
    assert "no charlm-tui config.json" in one_line_error(capsys)


@given(st.text(max_size=40))
def test_toml_strings_are_exact_and_never_raw_control_characters(text: str) -> None:
    written = toml_string(text)
    assert tomllib.loads(f"x = {written}")["x"] == text
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in written)


def test_the_form_started_from_a_run_keeps_its_options(
    tiny_args: list[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    old = runs / "old"
    assert run(["--no-ui", "train", *tiny_args, "--n-layer", "2", "--out", str(old)]) == 0
    base = json.loads((old / "config.json").read_text())
    from charlm_tui.core.training.plan import run_values

    values = run_values(old)
    plan, errors, _ = parse_form({"max_iters": "7", "name": "newer"}, runs, values)
    assert not errors and plan is not None
    assert plan.mcfg.n_layer == 2 and plan.tcfg.max_iters == 7
    assert plan.tcfg.lr == base["train"]["lr"] and plan.run_dir == runs / "newer"

    async def scenario() -> None:
        app = CharLMApp(runs_dir=runs)
        async with app.run_test(size=(100, 36)) as pilot:
            await wait_for(pilot, lambda: bool(getattr(app.screen, "runs", None)), "the runs")
            await pilot.press("N")  # home: a new run from the selected one
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), "the form")
            form = app.screen
            assert isinstance(form, NewRunScreen)
            assert form.query_one("#preset").disabled
            assert form.query_one("#lr").placeholder == f"run: {base['train']['lr']:g}"
            assert form.query_one("#data").value == base["train"]["data"]

    import asyncio

    asyncio.run(scenario())


def test_from_and_config_together_and_corpus_paths_relative_to_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    (here / "play.txt").write_text("the king and the queen of night\n" * 300, encoding="utf-8")
    monkeypatch.chdir(here)
    old = tmp_path / "old"
    assert run(["--no-ui", "train", "--preset", "tiny", "--data", "play.txt", "--max-iters",
                "10", "--out", str(old)]) == 0  # fmt: skip
    short = tmp_path / "short.toml"
    short.write_text("time_budget = 2\n", encoding="utf-8")
    # the file's length replaces the run's other kind of length, as a flag's does
    plan = plan_of(["--from", str(old), "--config", str(short), "--out", str(tmp_path / "n")])
    assert plan.tcfg.time_budget == 2 and plan.tcfg.max_iters is None
    monkeypatch.chdir(tmp_path)  # elsewhere: "play.txt" is not found from here
    capsys.readouterr()
    assert run(["--no-ui", "train", "--from", str(old), "--out", str(tmp_path / "n")]) == 2
    err = one_line_error(capsys)
    assert f"--from {old}: its corpus 'play.txt' is not found from here" in err
    assert "--data" in err
    good = ["--from", str(old), "--data", str(here / "play.txt"), "--out", str(tmp_path / "n")]
    assert plan_of(good).tcfg.data == str(here / "play.txt")


def test_config_names_itself_and_a_ladder_its_rungs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ladder.json").write_text("{}", encoding="utf-8")
    assert run(["config", str(tmp_path)]) == 2
    err = one_line_error(capsys)
    assert err.startswith(f"charlm-tui: error: config {tmp_path}: no charlm-tui config.json")
    assert "name one of its rungs" in err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("resume = true\n", "r.toml:1: resume is a command-line flag, not a file option"),
        ('out = "x"\n', "out is a command-line flag"),
        ('tag = "one"\n', 'r.toml:1: tag takes a list: tag = ["one"]'),
    ],
)
def test_flags_and_single_tags_in_a_file_say_what_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    (tmp_path / "r.toml").write_text(text, encoding="utf-8")
    assert run(["--no-ui", "train", "--config", str(tmp_path / "r.toml")]) == 2
    assert says in one_line_error(capsys)
