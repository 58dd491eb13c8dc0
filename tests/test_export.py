"""`export --safetensors` and `--csv`: the model without pickle (same logits, same text),
the records as CSV through the typed reader; bad exports refused in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from charlm_tui.core.models.checkpoint import load_model
from charlm_tui.core.models.exported import DESCRIPTION, WEIGHTS
from charlm_tui.core.runs.events import EvalEvent, StepEvent
from charlm_tui.core.runs.records import read_records
from charlm_tui.core.runs.rundir import checkpoint_path
from charlm_tui.tui.cli import run


@pytest.fixture
def trained(tiny_args, tmp_path: Path, capsys) -> Path:
    out = tmp_path / "run"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def output(argv: list[str], capsys) -> str:
    assert run(argv) == 0
    return capsys.readouterr().out


def one_line_error(argv: list[str], capsys) -> str:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_safetensors_round_trip_same_logits_and_text(trained: Path, capsys) -> None:
    assert "model.safetensors" in output(["export", str(trained), "--safetensors"], capsys)
    folder = trained / "export"
    assert checkpoint_path(folder) == folder  # a CHECKPOINT argument may name it
    a, vocab_a, ckpt_a = load_model(trained / "best.pt")
    b, vocab_b, ckpt_b = load_model(folder)
    assert vocab_a == vocab_b and ckpt_b["iter"] == ckpt_a["iter"]
    ids = torch.randint(0, len(vocab_a), (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(a.eval()(ids)[0], b.eval()(ids)[0])
    description = json.loads((folder / DESCRIPTION).read_text(encoding="utf-8"))
    assert description["vocab"] == vocab_a.chars and description["config"] == ckpt_a["config"]

    argv = ["--no-ui", "sample", "--seed", "5", "--max-new-tokens", "60"]
    assert output([*argv, str(folder)], capsys) == output([*argv, str(trained)], capsys)
    scores = [
        json.loads(output(["eval", p, "--json"], capsys)) for p in (str(trained), str(folder))
    ]
    assert scores[0]["loss"] == scores[1]["loss"] and scores[0]["positions"] > 0
    inspect = ["--no-ui", "inspect", "--format", "json", "--text", "the king"]
    scored = [output([*inspect, p], capsys).splitlines() for p in (str(trained), str(folder))]
    assert scored[0][:-1] == scored[1][:-1] and len(scored[0]) > 8  # the last names the path

    err = one_line_error(["export", str(trained), "--safetensors"], capsys)
    assert "--overwrite" in err
    assert run(["export", str(trained), "--safetensors", "--overwrite"]) == 0


def test_a_tampered_export_is_refused_in_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "x"
    assert run(["export", str(trained), "--safetensors", "--out", str(folder)]) == 0
    capsys.readouterr()
    good = (folder / DESCRIPTION).read_text(encoding="utf-8")
    described = json.loads(good)
    name = next(iter(described["tensors"]))

    def refused(text: str) -> str:
        (folder / DESCRIPTION).write_text(text, encoding="utf-8")
        return one_line_error(["--no-ui", "sample", str(folder)], capsys)

    wrong = {**described["tensors"], name: {"shape": [1, 2], "dtype": "float32"}}
    assert "does not hold the tensors" in refused(json.dumps({**described, "tensors": wrong}))
    no_list = {**described["tensors"], name: {"shape": 5, "dtype": "float32"}}
    assert "does not hold the tensors" in refused(json.dumps({**described, "tensors": no_list}))
    bigger = json.loads(good)
    bigger["config"]["model"]["n_embd"] *= 2  # the file's tensors no longer fit its config
    assert "shape" in refused(json.dumps(bigger))
    assert "format tag" in refused(json.dumps({**described, "format": "other/1"}))
    assert "not UTF-8 JSON" in refused("{not json")
    (folder / DESCRIPTION).write_text(good, encoding="utf-8")
    (folder / WEIGHTS).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    assert "safetensors" in one_line_error(["--no-ui", "sample", str(folder)], capsys)
    (folder / WEIGHTS).unlink()
    assert "no model.safetensors" in one_line_error(["--no-ui", "sample", str(folder)], capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no export" in one_line_error(["--no-ui", "sample", str(empty)], capsys)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_csv_holds_every_step_and_eval_record(trained: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "csv"
    assert "steps.csv" in output(["export", str(trained), "--csv", "--out", str(out)], capsys)
    events = read_records(trained / "metrics.jsonl")
    steps = [e for e in events if isinstance(e, StepEvent)]
    evals = [e for e in events if isinstance(e, EvalEvent)]
    got = rows(out / "steps.csv")
    assert [int(r["iter"]) for r in got] == [s.iter for s in steps] and len(steps) > 2
    assert [float(r["loss"]) for r in got] == [s.loss for s in steps]
    assert list(got[0]) == ["iter", "loss", "lr", "grad_norm", "dt_s", "tokens_per_s",
                            "elapsed_s", "progress", "eta_s", "time"]  # fmt: skip
    table = rows(out / "evals.csv")
    assert [int(r["iter"]) for r in table] == [e.iter for e in evals] == [0, 10, 20, 30]
    assert [float(r["val_loss"]) for r in table] == [e.val.loss for e in evals]
    assert [float(r["train_top5"]) for r in table] == [e.train.top5 for e in evals]
    assert {"val_bpc", "val_positions", "is_best", "best_val_loss"} <= set(table[0])


def test_export_says_what_it_can_and_does_each_flag_given(trained: Path, capsys) -> None:
    err = one_line_error(["export", str(trained)], capsys)
    assert all(flag in err for flag in ("--tensorboard", "--safetensors", "--csv"))
    assert "--safetensors" in one_line_error(["export", str(trained), "--out", "x"], capsys)
    said = output(["export", str(trained), "--csv", "--safetensors"], capsys)
    assert "steps.csv" in said and "model.safetensors" in said
    names = {p.name for p in (trained / "export").iterdir()}
    assert names == {"steps.csv", "evals.csv", WEIGHTS, DESCRIPTION}


def test_the_generate_pane_opens_an_exported_folder(tmp_path: Path) -> None:
    from charlm_tui.core.decoding.options import GenerateOptions, SamplingParams
    from charlm_tui.core.decoding.sampling import generate
    from charlm_tui.core.interop.interchange import export_safetensors
    from charlm_tui.core.models.quant import decoder_for
    from charlm_tui.tui.app import CharLMApp
    from charlm_tui.tui.screens.generate import GenerateScreen
    from tests.tui_helpers import fake_run, opened
    from tests.tui_helpers import run as drive
    from tests.waiting import wait_for

    trained = fake_run(tmp_path, "gen")
    _, folder = export_safetensors(trained, tmp_path / "exported")
    original, vocab, _ = load_model(trained / "best.pt")

    async def scenario() -> None:
        app = CharLMApp(generate=(folder, GenerateOptions(max_new_tokens=30, seed=7)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            await pilot.press(*"KING", "enter")
            await wait_for(pilot, lambda: not screen.running and len(screen.output.text) == 34,
                           "34 characters generated")  # fmt: skip
            decoder = decoder_for(original, screen.precision)
            gen = torch.Generator().manual_seed(7)
            ids = vocab.encode("KING")
            tokens = generate(original, ids, 30, SamplingParams(), gen, decoder=decoder)
            assert screen.output.text == "KING" + vocab.decode(tokens)

    drive(scenario())


def test_overwrite_takes_the_replaced_runs_export_with_it(
    tiny_args: list[str], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    assert run(["export", str(out), "--safetensors"]) == 0
    assert (out / "export" / WEIGHTS).is_file()
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--overwrite"]) == 0
    assert not (out / "export").exists()  # no stale weights that sample would still load
