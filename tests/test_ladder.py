"""The ladder: rungs trained in turn, skipped or resumed, listed as a group, compared.

Rungs are trained in turn with one budget and seed, skipped when finished, resumed when
stopped, listed as a group, compared at the end. Budgets of a second."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import charlm_tui.core.experiments.ladder as ladder_module
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.experiments.ladder import (
    Ladder,
    LadderOptions,
    Rung,
    make_ladder,
    parse_rungs,
    run_ladder,
)
from charlm_tui.core.options import build
from charlm_tui.core.runs.events import StepEvent
from charlm_tui.core.runs.listing import list_runs
from charlm_tui.core.runs.rundir import LADDER
from charlm_tui.core.training.distributed import DistInfo
from charlm_tui.core.training.plan import RunPlan, check_corpus
from charlm_tui.core.training.steering import STOPS
from charlm_tui.core.training.trainer import execute
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.cli import run
from charlm_tui.tui.screens.compare import CompareScreen
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.home import HomeScreen
from tests.waiting import wait_for

# The tiny preset's shapes: a ladder test trains each rung for about a second.
TINY = (
    Rung("bigram", "bigram", dict(block_size=16, eval_interval=20, sample_interval=0), "table"),
    Rung("tiny-gpt", "tiny", dict(eval_interval=20, sample_interval=0), "1×2×32"),
)


def make(root: Path, corpus: Path, budget: float = 0.5, rungs=TINY) -> Ladder:
    ladder = Ladder(root, rungs, str(corpus), budget, 7)
    ladder.check()
    return ladder


class Trainer:
    """train(rung, plan) for run_ladder, recording what it was asked to do; `stop_in`
    stops that rung after a few steps, as Ctrl-C would."""

    def __init__(self, stop_in: str | None = None) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.stop_in = stop_in

    def __call__(self, rung: Rung, plan: RunPlan) -> str:
        self.calls.append((rung.name, plan.resuming))

        def watchers(trainer, steering):
            class StopSoon:
                def handle(self, event) -> None:
                    if isinstance(event, StepEvent) and event.iter >= 2:
                        steering.request_stop(STOPS[1])  # as Ctrl-C would

                def close(self) -> None:
                    pass

            return [StopSoon()] if rung.name == self.stop_in else []

        return execute(plan, DistInfo(), check_corpus(plan), watchers=watchers).reason


def test_rungs_by_name_and_the_default_progression() -> None:
    assert [r.name for r in parse_rungs(None)] == [
        "bigram",
        "mlp",
        "lstm",
        "gpt-1head",
        "gpt-6heads",
        "gpt-2blocks",
    ]
    one, six, two = (ladder_module.RUNGS[n] for n in ("gpt-1head", "gpt-6heads", "gpt-2blocks"))
    assert (one.overrides["n_layer"], one.overrides["n_head"]) == (1, 1)
    assert (six.overrides["n_layer"], six.overrides["n_head"]) == (1, 6)
    assert (two.overrides["n_layer"], two.overrides["n_head"]) == (2, 6)
    assert {r.preset for r in (one, six, two)} == {"seed"}  # 384 wide, as the seed's log
    assert [r.name for r in parse_rungs(" lstm, bigram ")] == ["lstm", "bigram"]
    for bad, message in (
        ("bigram,zzz", "unknown rung 'zzz'"),
        (",", "no rung"),
        ("mlp,mlp", "twice"),
    ):
        with pytest.raises(CharLMError, match=message):
            parse_rungs(bad)


def test_a_ladder_trains_every_rung_with_one_budget_and_seed(
    corpus_file: Path, tmp_path: Path
) -> None:
    ladder = make(tmp_path / "lad", corpus_file)
    train = Trainer()
    assert run_ladder(ladder, train, lambda _: None) == "finished"
    assert train.calls == [("bigram", False), ("tiny-gpt", False)]
    saved = json.loads((tmp_path / "lad" / LADDER).read_text())
    assert saved["rungs"] == ["bigram", "tiny-gpt"] and saved["time_budget"] == 0.5
    for rung in TINY:
        config = json.loads((tmp_path / "lad" / rung.name / "config.json").read_text())
        assert config["train"]["time_budget"] == 0.5 and config["train"]["max_iters"] is None
        assert config["train"]["seed"] == 7 and config["train"]["data"] == str(corpus_file)
        assert ladder.status(rung) == "finished"
    again = Trainer()
    assert run_ladder(ladder, again, lambda _: None) == "finished"
    assert again.calls == []  # finished rungs are skipped


def test_an_interrupted_ladder_keeps_its_rungs_and_resumes(
    corpus_file: Path, tmp_path: Path
) -> None:
    ladder = make(tmp_path / "lad", corpus_file, budget=3.0)
    said: list[str] = []
    train = Trainer(stop_in="tiny-gpt")
    assert run_ladder(ladder, train, said.append) == "interrupted"
    assert ladder.status(TINY[0]) == "finished" and ladder.status(TINY[1]) == "interrupted"
    assert "rerun the command" in said[-1]
    train = Trainer()
    assert run_ladder(ladder, train, said.append) == "finished"
    assert train.calls == [("tiny-gpt", True)]  # the finished rung skipped, the other resumed


def test_a_ladder_folder_refuses_other_settings(corpus_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "lad"
    make(root, corpus_file).claim()
    with pytest.raises(CharLMError, match=r"--time-budget 0\.5, not 2\.0"):
        make(root, corpus_file, budget=2.0)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(CharLMError, match=r"holds files but no ladder\.json"):
        make(other, corpus_file)
    with pytest.raises(CharLMError, match="--time-budget must be"):
        make_ladder(build(LadderOptions, {"data": str(corpus_file), "time_budget": 0}))


def test_runs_and_home_show_a_ladder_as_a_group(corpus_file: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "runs"
    ladder = make(root / "lad", corpus_file)
    run_ladder(ladder, Trainer(), lambda _: None)
    assert run(["--no-ui", "train", "--preset", "tiny", "--data", str(corpus_file),
                "--max-iters", "5", "--out", str(root / "loose")]) == 0  # fmt: skip
    capsys.readouterr()
    infos = list_runs(root)
    assert [i.label for i in infos] == ["loose", "lad/bigram", "lad/tiny-gpt"]
    assert run(["runs", str(root)]) == 0
    table = capsys.readouterr().out
    assert table.index("lad/bigram") < table.index("lad/tiny-gpt")

    async def go() -> None:
        app = CharLMApp(runs_dir=root)
        async with app.run_test(size=(120, 36)) as pilot:
            home = app.screen
            assert isinstance(home, HomeScreen)
            assert [r.label for r in home.runs] == ["loose", "lad/bigram", "lad/tiny-gpt"]
            await pilot.press("down", "c")  # nothing marked, a rung selected: its ladder
            assert isinstance(app.screen, CompareScreen)
            assert [r.label for r in app.screen.runs] == ["lad/bigram", "lad/tiny-gpt"]

    asyncio.run(go())


def test_the_ladder_command_headless(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(ladder_module, "RUNGS", {r.name: r for r in TINY})
    monkeypatch.setattr(ladder_module, "DEFAULT_RUNGS", tuple(r.name for r in TINY))
    argv = ["--no-ui", "ladder", "--data", str(corpus_file), "--time-budget", "0.5"]
    assert run([*argv, "--out", str(tmp_path / "lad")]) == 0
    out = capsys.readouterr().out
    assert "rung 1/2, training: bigram" in out and "rung 2/2, training: tiny-gpt" in out
    table = [ln for ln in out.splitlines() if ln.startswith("| ")]
    assert [ln.split("|")[1].strip() for ln in table[1:]] == ["lad/bigram", "lad/tiny-gpt"]
    assert "~" not in "".join(table)  # every rung scored on its full val split
    assert run([*argv, "--out", str(tmp_path / "lad")]) == 0  # again: nothing left to train
    assert "rung 1/2" not in capsys.readouterr().out
    assert run([*argv, "--rungs", "nope"]) == 2
    assert "--rungs names an unknown rung 'nope'" in capsys.readouterr().err


def test_the_ladder_on_the_dashboard_then_compared(corpus_file: Path, tmp_path: Path) -> None:
    ladder = make(tmp_path / "lad", corpus_file)

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, ladder=ladder)
        async with app.run_test(size=(120, 36)) as pilot:
            seen: set[str] = set()

            def progress() -> bool:
                if isinstance(app.screen, DashboardScreen):
                    seen.add(app.screen.run_dir.name)
                return isinstance(app.screen, CompareScreen) and bool(app.screen.rows)

            await wait_for(pilot, progress, "the ladder's compare screen", timeout=120)
            assert seen <= {"bigram", "tiny-gpt"} and "tiny-gpt" in seen
            assert [r.label for r in app.screen.runs] == ["lad/bigram", "lad/tiny-gpt"]
            assert all(ladder.status(r) == "finished" for r in TINY)
            # the compare screen scores every rung on its full val split
            await wait_for(
                pilot,
                lambda: all(r.val_source == "full" for r in app.screen.rows),
                "every rung scored on its full val split",
            )

    asyncio.run(go())
