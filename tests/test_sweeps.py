"""Grid sweeps on the ladder: `--grid NAME=V1,V2` checked by each option's declaration,
every combination with every seed, resumable, ending in a scatter per swept option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.experiments.ladder import LadderOptions, make_ladder, run_ladder
from charlm_tui.core.experiments.sweep import (
    Replicas,
    cells,
    member_name,
    parse_axis,
    parse_grid,
)
from charlm_tui.core.options import build
from charlm_tui.core.runs.rundir import LADDER
from charlm_tui.tui.cli import run
from tests.test_ladder import Trainer


def test_an_axis_is_a_declared_option_and_values_its_declaration_accepts() -> None:
    axis = parse_axis("lr=1e-3, 3e-3")
    assert axis.name == "lr" and axis.values == (1e-3, 3e-3)
    assert parse_axis("--n-embd=32,64").values == (32, 64)
    assert parse_axis("activation=gelu,relu2").values == ("gelu", "relu2")
    assert parse_axis("bias=true,false").values == (True, False)
    for bad, message in (
        ("lr", "NAME=V1,V2"),
        ("lrr=1", "no such option: did you mean lr"),
        ("lr=abc", "a number, not 'abc'"),
        ("lr=-1", "--lr must be"),
        ("n_embd=1.5", "a whole number"),
        ("activation=tanh9", "must be one of"),
        ("seed=1,2", "use --seeds"),
        ("threads=1,2", "not what it learns"),  # two runs of one seed are no replicas
        ("sample_prompt=a,b", "not what it learns"),
        ("data=a,b", "every member shares it"),
        ("lr=", "names no value"),
        ("lr=0.05,,0.1", "an empty value"),
        ("model=gpt,bigram", "choose them with --rungs"),
        ("lr=1e-3,0.001", "twice"),
    ):
        with pytest.raises(CharLMError, match=message):
            parse_axis(bad)
    with pytest.raises(CharLMError, match="names lr twice"):
        parse_grid(["lr=1", "lr=2"])


def test_cells_and_member_names() -> None:
    axes = parse_grid(["lr=0.001,0.003", "n_embd=32,64"])
    assert cells(axes) == [
        {"lr": 0.001, "n_embd": 32},
        {"lr": 0.001, "n_embd": 64},
        {"lr": 0.003, "n_embd": 32},
        {"lr": 0.003, "n_embd": 64},
    ]
    assert member_name("gpt", {"lr": 0.003}, 7, 7) == "gpt+lr=0.003"
    assert member_name("gpt", {"lr": 0.003}, 8, 7) == "gpt+lr=0.003+s8"
    assert member_name("", {}, 7, 7) == "s7"
    # values a short format would print alike get names of their own
    assert member_name("b", {"lr": 0.10000001}, 7, 7) != member_name("b", {"lr": 0.1}, 7, 7)


def test_a_grid_ladder_plans_every_rung_cell_and_seed(corpus_file: Path, tmp_path: Path) -> None:
    options = build(LadderOptions, dict(
        data=str(corpus_file), rungs="bigram", grid=("lr=0.01,0.03", "batch_size=4,8,16"),
        out=tmp_path / "sweep", time_budget=1.0,
    ))  # fmt: skip
    ladder = make_ladder(options, replicas=Replicas(2))
    assert len(ladder.rungs) == 2 * 3 * 2
    names = [r.name for r in ladder.rungs]
    assert names[:3] == ["bigram+lr=0.01+batch_size=4", "bigram+lr=0.01+batch_size=4+s1338",
                         "bigram+lr=0.01+batch_size=8"]  # fmt: skip
    last = ladder.overrides(ladder.rungs[-1])
    assert (last["lr"], last["batch_size"], last["seed"]) == (0.03, 16, 1338)
    assert ladder.swept == ("lr", "batch_size")
    # a cell no model could be built with is refused before anything is written
    bad = build(LadderOptions, dict(data=str(corpus_file), rungs="gpt-cpu",
                                    grid=("n_head=3",), out=tmp_path / "bad"))  # fmt: skip
    with pytest.raises(CharLMError, match=r"ladder rung gpt-cpu\+n_head=3: .*--n-head \(3\)"):
        make_ladder(bad)
    assert not (tmp_path / "bad").exists()
    ignored = build(LadderOptions, dict(data=str(corpus_file), rungs="bigram",
                                        grid=("n_layer=1,2",), out=tmp_path / "bad"))  # fmt: skip
    with pytest.raises(
        CharLMError, match=r"bigram rung's model \(bigram\) does not read --n-layer"
    ):
        make_ladder(ignored)


def test_a_grid_resumes_where_it_stopped_and_ends_with_its_scatter(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "sweep"
    options = build(LadderOptions, dict(
        data=str(corpus_file), rungs="bigram", grid=("lr=0.01,0.1",), out=root,
        time_budget=0.6,
    ))  # fmt: skip
    ladder = make_ladder(options, replicas=Replicas(2))
    first = Trainer(stop_in="bigram+lr=0.1")
    assert run_ladder(ladder, first, lambda _: None) == "interrupted"
    assert [c[0] for c in first.calls] == ["bigram+lr=0.01", "bigram+lr=0.01+s1338",
                                           "bigram+lr=0.1"]  # fmt: skip
    saved = json.loads((root / LADDER).read_text())
    assert saved["grid"] == ["lr"] and saved["members"]["bigram+lr=0.1"]["overrides"]["lr"] == 0.1
    argv = ["--no-ui", "ladder", "--data", str(corpus_file), "--rungs", "bigram", "--grid",
            "lr=0.01,0.1", "--seeds", "2", "--time-budget", "0.6", "--out", str(root)]  # fmt: skip
    assert run(argv) == 0
    said = capsys.readouterr().out
    assert "rung 3/4, resuming: bigram+lr=0.1 (a V×V table of next-char logits)" in said
    assert "rung 4/4, training: bigram+lr=0.1+s1338 (a V×V table of next-char logits)" in said
    assert "rung 1/4" not in said and "rung 2/4" not in said  # finished: kept
    assert "val loss against lr (log x)" in said
    assert "lr = 0.01:" in said and "over 2 run(s)" in said
    assert "| sweep/bigram+lr=0.1 | 2 |" in said  # its seed group
    # the same folder with another grid value is another sweep: refused by name
    assert run([*argv[:8], "lr=0.01,0.2", *argv[9:]]) == 2


def test_a_2x3_grid_with_2_seeds_killed_by_sigkill_resumes_and_draws_its_scatter(
    corpus_file: Path, tmp_path: Path
) -> None:
    import os
    import signal

    from tests.train_helpers import CLI, run_captured, spawn_piped
    from tests.waiting import wait_until

    root = tmp_path / "sweep"
    argv = [*CLI, "--no-ui", "ladder", "--data", str(corpus_file), "--rungs", "bigram",
            "--grid", "lr=0.01,0.1", "--grid", "batch_size=4,8,16", "--seeds", "2",
            "--jobs", "2", "--time-budget", "1", "--out", str(root)]  # fmt: skip
    parent = spawn_piped(argv)

    def metrics() -> list[Path]:
        return sorted(root.glob("*/metrics.jsonl"))

    def training() -> bool:  # some member has stepped and not yet ended
        return any(b'"event": "step"' in m.read_bytes() and b'"event": "done"' not in
                   m.read_bytes() for m in metrics())  # fmt: skip

    wait_until(training, "a member in the middle of its training", timeout=120)
    os.kill(parent.pid, signal.SIGKILL)  # no handler runs: the workers learn it from the kernel
    _, err = parent.communicate()
    assert b"Traceback" not in err

    def settled() -> bool:  # every member started has saved and written how it ended
        return all(b'"event": "done"' in m.read_bytes() for m in metrics())

    wait_until(settled, "the workers to save and stop", timeout=60)
    stopped = [m for m in metrics() if json.loads(m.read_text().splitlines()[-1])["reason"]
               == "terminated"]  # fmt: skip
    assert stopped and all((m.parent / "last.pt").is_file() for m in stopped)
    assert len(metrics()) < 12  # the kill came before every member had started
    again = run_captured(argv, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(", resuming: ") == len(stopped)  # each from its own last.pt
    assert len(metrics()) == 12
    for m in metrics():
        assert json.loads(m.read_text().splitlines()[-1])["reason"] == "finished"
    assert "val loss against lr (log x)" in again.stdout
    assert "val loss against batch_size" in again.stdout
    assert "| sweep/bigram+lr=0.1+batch_size=16 | 2 |" in again.stdout  # a seed group


def test_a_sweep_over_two_rungs_keeps_each_rung_apart() -> None:
    from charlm_tui.core.report.content import Sweep, series_of

    assert series_of("lad/mlp+lr=0.1+s1338") == "mlp" and series_of("grp/s1337") == ""
    sweep = Sweep("lr", [(0.1, 2.0, "bigram"), (0.3, 2.1, "bigram"), (0.1, 1.5, "mlp"),
                         (0.3, 3.0, "mlp"), (0.3, 3.2, "mlp")])  # fmt: skip
    assert sweep.series() == ["bigram", "mlp"]
    mlp = {x: (s.n, s.mean) for x, s in sweep.at_each_value("mlp")}
    assert mlp == {0.1: (1, 1.5), 0.3: (2, pytest.approx(3.1))}  # never mixed with bigram's
