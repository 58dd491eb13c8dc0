"""Seed groups: `train --seeds N` (and --jobs), runs grouped by what they learn, their
statistics and Welch's test, in compare's outputs."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.report.groups import (
    Stat,
    band,
    difference,
    differences,
    group_name,
    group_rows,
    learning_key,
)
from charlm_tui.core.report.rows import Row
from charlm_tui.core.runs.rundir import LADDER
from charlm_tui.tui.cli import run
from tests.train_helpers import CLI, run_captured, train_argv


def row(name: str, learns: str | None, val: float | None, seed: int = 0) -> Row:
    return Row(
        name=name, path=name, model="gpt", params=1, shape="", optimizer="adamw", lr=None,
        batch=None, iters=1, chars=None, seconds=None, train_loss=None, val_loss=val,
        val_bpc=None, val_top1=None, val_top5=None, gap=None, status="finished",
        val_source="full", best_iter=None, seed=seed, learns=learns,
    )  # fmt: skip


def test_the_learning_key_leaves_out_the_seed_and_how_a_run_reports() -> None:
    config = {
        "model": {"model": "gpt", "n_layer": 2},
        "train": {"seed": 1, "lr": 1e-3, "sample_interval": 100, "threads": 2},
        "corpus": {"sha256": "ab" * 32},
    }
    other_seed = json.loads(json.dumps(config))
    other_seed["train"].update(seed=2, sample_interval=5, threads=1)
    assert learning_key(config) == learning_key(other_seed)
    other_lr = json.loads(json.dumps(config))
    other_lr["train"]["lr"] = 3e-3
    assert learning_key(config) != learning_key(other_lr)
    other_text = json.loads(json.dumps(config))
    other_text["corpus"]["sha256"] = "cd" * 32
    assert learning_key(config) != learning_key(other_text)
    assert learning_key({"model": "x"}) is None


def test_groups_keep_the_first_appearance_order_and_their_names() -> None:
    rows = [
        row("grp/s1337", "a", 1.0, 1337),
        row("lad/bigram", "b", 2.0, 1337),
        row("grp/s1338", "a", 1.2, 1338),
        row("lad/bigram+s1338", "b", 2.1, 1338),
        row("odd", None, 3.0),
        row("odd2", None, 3.0),
    ]
    groups = group_rows(rows)
    assert [(g.name, g.n) for g in groups] == [
        ("grp", 2),
        ("lad/bigram", 2),
        ("odd", 1),
        ("odd2", 1),  # configurations that cannot be read never group together
    ]
    assert groups[0].seeds == [1337, 1338]
    assert group_name(["a/x+lr=0.1+s5", "a/x+lr=0.1"]) == "a/x+lr=0.1"


def test_a_second_run_of_one_seed_is_not_a_replica() -> None:
    rows = [row("a", "k", 1.0, 7), row("b", "k", 1.1, 8), row("c", "k", 1.0, 7)]
    assert [(g.name, g.n) for g in group_rows(rows)] == [("a (+1)", 2), ("c (repeat 2)", 1)]


def test_groups_on_different_corpora_are_not_tested() -> None:
    a = group_rows([replace(row(f"a/s{i}", "a", v, i), corpus_sha256="1" * 64)
                    for i, v in enumerate([1.0, 2.0])])[0]  # fmt: skip
    b = group_rows([replace(row(f"b/s{i}", "b", v, i), corpus_sha256="2" * 64)
                    for i, v in enumerate([4.0, 5.0])])[0]  # fmt: skip
    d = difference(a, b)
    assert d.p is None and d.why == "different corpora" and d.diff == -3.0


def test_stat_says_one_seed_rather_than_a_spread() -> None:
    assert Stat.of([1.5]).text() == "1.5000 (1 seed)"
    s = Stat.of([1.0, 2.0, 3.0, None, math.nan])
    assert (s.n, s.mean, s.std, s.lo, s.hi) == (3, 2.0, 1.0, 1.0, 3.0)
    assert s.text(".2f") == "2.00 ± 1.00"
    assert Stat.of([]).text() == "–"


def test_welch_matches_a_known_answer_and_refuses_one_seed() -> None:
    a = group_rows([row(f"a/s{i}", "a", v, i) for i, v in enumerate([1.0, 2.0, 3.0])])[0]
    b = group_rows([row(f"b/s{i}", "b", v, i) for i, v in enumerate([4.0, 5.0, 6.5])])[0]
    d = difference(a, b)
    # scipy.stats.ttest_ind([1, 2, 3], [4, 5, 6.5], equal_var=False), by hand: t = -3.79,
    # Welch–Satterthwaite df = 3.85, two-sided p = 0.0291
    assert d.diff == pytest.approx(-3.1666667)
    assert d.p == pytest.approx(0.029145, rel=1e-3)
    assert d.lo is not None and d.hi is not None and d.lo < d.diff < d.hi < 0
    one = group_rows([row("c", "c", 9.0)])[0]
    assert difference(one, b).p is None and difference(one, b).why == "1 seed"
    same = group_rows([row(f"s/s{i}", "s", 1.0, i) for i in range(2)])[0]
    same2 = group_rows([row(f"t/s{i}", "t", 2.0, i) for i in range(2)])[0]
    assert difference(same, same2).why == "no spread"
    assert [x.a for x in differences([a, b, one], baseline="b/s1")] == ["a", "c"]


def test_a_band_reads_every_run_at_the_shortest_runs_x() -> None:
    xs, mean, lo, hi = band([([0, 10, 20], [4.0, 2.0, 1.0]), ([0, 5, 10], [2.0, 1.0, 0.0])])
    assert xs == [0, 5, 10]
    assert mean == [3.0, 2.0, 1.0] and lo == [2.0, 1.0, 0.0] and hi == [4.0, 3.0, 2.0]
    assert band([]) == ([], [], [], [])


def test_train_seeds_makes_a_group_that_compare_summarises(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grp"
    argv = train_argv(corpus_file, out, "bigram", (), max_iters=20, eval_interval=10,
                      sample_interval=0, seeds=2)  # fmt: skip
    assert run(argv) == 0
    said = capsys.readouterr().out
    assert "| grp | 2 | 1337, 1338 |" in said  # the group's row, printed at the end
    saved = json.loads((out / LADDER).read_text())
    assert saved["kind"] == "seed group" and saved["rungs"] == ["s1337", "s1338"]
    seeds = [json.loads((out / m / "config.json").read_text())["train"]["seed"]
             for m in ("s1337", "s1338")]  # fmt: skip
    assert seeds == [1337, 1338]
    # More seeds later carry the group on; the finished members are kept as they are.
    before = (out / "s1337" / "metrics.jsonl").read_bytes()
    assert run([*argv[:-4], "--seeds", "3", "--out", str(out)]) == 0
    assert (out / "s1337" / "metrics.jsonl").read_bytes() == before
    assert json.loads((out / LADDER).read_text())["rungs"] == ["s1337", "s1338", "s1339"]
    capsys.readouterr()
    assert run(["--no-ui", "compare", str(out), "--format", "json", "--groups"]) == 0
    body = json.loads(capsys.readouterr().out)
    (group,) = body["groups"]
    assert group["n"] == 3 and group["seeds"] == [1337, 1338, 1339]
    assert group["val_loss_std"] is not None and group["val_loss_std"] > 0
    # A different option is refused by name, with the value to rerun with.
    assert run([*argv[:-4], "--lr", "0.5", "--seeds", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is a seed group with --lr 0.1, not 0.5: rerun with that" in err
    # the preset's own value, given as a flag, is the same run: it carries on
    assert run([*argv[:-4], "--lr", "0.1", "--seeds", "3", "--out", str(out)]) == 0
    # What changes only how it runs may change: more threads carry the group on.
    assert run([*argv[:-4], "--threads", "1", "--seeds", "3", "--out", str(out)]) == 0


def test_two_groups_get_welchs_test_in_markdown(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, lr in (("slow", 1e-3), ("fast", 1e-1)):
        argv = train_argv(corpus_file, tmp_path / name, "bigram", (), max_iters=40, seeds=2,
                          eval_interval=20, sample_interval=0, lr=lr, min_lr=1e-4)  # fmt: skip
        assert run(argv) == 0
    capsys.readouterr()
    assert run(["--no-ui", "compare", str(tmp_path / "slow"), str(tmp_path / "fast"),
                "--format", "markdown"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "Seed groups" in said and "Welch's t-test" in said
    line = next(ln for ln in said.splitlines() if ln.startswith("| fast | -"))
    assert "[-" in line  # the faster learning rate is better, and its interval says so


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "0"], "--seeds must be"),
        (["--jobs", "2"], "give --seeds too"),
        (["--seeds", "2", "--resume"], "leave out --resume"),
        (["--seeds", "2", "--overwrite"], "does not apply to a seed group"),
        (["--seeds", "2", "--jobs", "200"], "more than this machine's"),
    ],
)
def test_bad_seed_options_are_one_line_errors(
    corpus_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = train_argv(corpus_file, tmp_path / "g", "bigram", (), max_iters=5)
    assert run([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g").exists()  # refused before anything is written


def test_jobs_train_replicas_in_processes_of_their_own(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "par"
    argv = train_argv(corpus_file, out, "bigram", CLI, max_iters=30, eval_interval=10,
                      sample_interval=0, seeds=2, jobs=2)  # fmt: skip
    done = run_captured(argv, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 at a time, 1 thread(s) each" in done.stdout
    for member in ("s1337", "s1338"):
        records = (out / member / "metrics.jsonl").read_text().splitlines()
        last = json.loads(records[-1])
        assert last["event"] == "done" and last["reason"] == "finished"
    assert "| par | 2 |" in done.stdout


def test_a_group_rerun_resumes_a_member_that_was_stopped(corpus_file: Path, tmp_path: Path) -> None:
    from charlm_tui.core.experiments.ladder import plan_group, run_ladder
    from charlm_tui.core.experiments.sweep import Replicas
    from charlm_tui.core.runs.labels import Labels
    from charlm_tui.core.training.plan import Placement, Start
    from tests.test_ladder import Trainer

    given = dict(preset="bigram", data=str(corpus_file), max_iters=400, eval_interval=10,
                 sample_interval=0)  # fmt: skip
    group = plan_group(given, Placement(out=tmp_path / "g"), Start(), Labels(), Replicas(2))
    first = Trainer(stop_in="s1338")
    assert run_ladder(group, first, lambda _: None) == "interrupted"
    again = Trainer()
    assert run_ladder(group, again, lambda _: None) == "finished"
    assert again.calls == [("s1338", True)]  # resumed from its last.pt, the other kept
    with pytest.raises(CharLMError, match="seed group with --max-iters 400, not 10"):
        plan_group({**given, "max_iters": 10}, Placement(out=tmp_path / "g"), Start(),
                   Labels(), Replicas(2))  # fmt: skip
    assert replace(Replicas(3), jobs=1).seed_list(5) == (5, 6, 7)


def test_a_seed_group_on_the_dashboard_ends_compared_by_group(
    corpus_file: Path, tmp_path: Path
) -> None:
    import asyncio

    from charlm_tui.core.experiments.ladder import plan_group
    from charlm_tui.core.experiments.sweep import Replicas
    from charlm_tui.core.runs.labels import Labels
    from charlm_tui.core.training.plan import Placement, Start
    from charlm_tui.tui.app import CharLMApp
    from charlm_tui.tui.screens.compare import CompareScreen
    from tests.waiting import wait_for

    given = dict(preset="bigram", data=str(corpus_file), max_iters=30, eval_interval=10,
                 sample_interval=0)  # fmt: skip
    group = plan_group(given, Placement(out=tmp_path / "g"), Start(), Labels(), Replicas(2))

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, ladder=group)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    isinstance(app.screen, CompareScreen)
                    and app.screen.groups is not None
                    and bool(app.screen.rows)
                ),
                "the group's compare screen, by group",
                timeout=120,
            )
            screen = app.screen
            assert isinstance(screen, CompareScreen) and screen.by_group
            assert [(g.name, g.n) for g in screen.groups or []] == [("g", 2)]

    asyncio.run(go())


def test_a_gpt_group_beats_a_bigram_group_by_welchs_test(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, preset in (("gpt", "tiny"), ("bigram", "bigram")):
        argv = train_argv(corpus_file, tmp_path / name, preset, (), max_iters=200, seeds=3,
                          eval_interval=100, sample_interval=0)  # fmt: skip
        assert run(argv) == 0
    capsys.readouterr()
    assert run(["--no-ui", "compare", str(tmp_path / "gpt"), str(tmp_path / "bigram"),
                "--format", "json", "--groups"]) == 0  # fmt: skip
    body = json.loads(capsys.readouterr().out)
    assert [(g["group"], g["n"]) for g in body["groups"]] == [("gpt", 3), ("bigram", 3)]
    (test,) = body["differences"]
    assert (test["group"], test["baseline"]) == ("bigram", "gpt")
    assert test["diff"] > 0 and test["ci_low"] > 0  # the bigram is worse, and surely so
    assert test["p"] < 0.01
