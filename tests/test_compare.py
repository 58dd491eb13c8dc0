"""Comparing runs: rows and curves from records, the exports parsed back (and agreeing
with `eval`), the compare screen and the dashboard's chart driven by keys, TensorBoard."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import math
import os
from pathlib import Path

import pytest
from textual.widgets import DataTable

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.measures import Metrics
from charlm_tui.core.runs.events import EvalEvent
from charlm_tui.core.runs.listing import load_runs, resolve_runs
from charlm_tui.core.runs.records import MetricsWriter
from charlm_tui.core.runs.rundir import FULL_EVAL, LADDER, METRICS, TENSORBOARD
from charlm_tui.core.runs.scores import full_eval, read_full_eval
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.cli import run
from charlm_tui.tui.curves import ema, run_curve, value_at
from charlm_tui.tui.exports import to_csv, to_json, to_markdown
from charlm_tui.tui.screens.compare import CompareChart, CompareScreen
from charlm_tui.tui.screens.dashboard import DashboardScreen
from charlm_tui.tui.screens.home import HomeScreen
from charlm_tui.tui.tables import COLUMN_KEYS, matches, row_of, sort_rows, with_baseline
from charlm_tui.tui.widgets.loss_chart import CurvePlot, LossChart, log_ticks, nice_ticks, y_labels
from tests.conftest import make_text
from tests.train_helpers import new_training
from tests.tui_helpers import FIXED_TIME, fake_run, wait_for


def scenario(coro) -> None:
    asyncio.run(coro)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real runs (a second each) with their checkpoints: what `eval` can score."""
    root = tmp_path_factory.mktemp("trained")
    corpus = root / "play.txt"
    corpus.write_text(make_text(20_000), encoding="utf-8")
    over = dict(max_iters=30, eval_interval=10, sample_interval=0, log_interval=2)
    with pytest.MonkeyPatch.context() as mp:  # the per-test isolation is not up yet
        mp.setenv("CHARLM_DATA_DIR", str(root / "data"))
        new_training(corpus, root / "runs" / "gpt-a", **over).run()
        new_training(corpus, root / "runs" / "bigram-b", preset="bigram", **over).run()
    return root / "runs"


# -- curves and axes --------------------------------------------------------------------------


def test_ema_is_raw_at_zero_debiased_and_flat_on_a_constant() -> None:
    ys = [4.0, 3.0, 2.5, 2.0]
    assert ema(ys, 0.0) == ys
    smooth = ema(ys, 0.9)
    assert smooth[0] == pytest.approx(4.0)  # debiased: the first point is not dragged to 0
    assert all(a >= b for a, b in itertools.pairwise(smooth))
    assert ema([1.5] * 50, 0.99) == pytest.approx([1.5] * 50)


def test_value_at_interpolates_inside_and_is_none_outside() -> None:
    xs, ys = [0.0, 10.0, 20.0], [4.0, 2.0, 1.0]
    assert value_at(xs, ys, 5.0) == pytest.approx(3.0)
    assert value_at(xs, ys, 20.0) == 1.0
    assert value_at(xs, ys, 0.0) == 4.0
    assert value_at(xs, ys, 21.0) is None and value_at([], [], 1.0) is None


def test_curves_against_iterations_characters_and_seconds(tmp_path: Path) -> None:
    (run_,) = load_runs([fake_run(tmp_path, "a", iters=200)])
    per_iter = run_.chars_per_iter
    assert per_iter == 16 * 32  # the tiny preset's batch x block
    xs_iter, val = run_curve(run_, "val", "iter")
    assert xs_iter == [0.0, 100.0, 200.0] and val[0] > val[-1]
    xs_chars, _ = run_curve(run_, "val", "chars")
    assert xs_chars == [x * per_iter for x in xs_iter]
    xs_s, _ = run_curve(run_, "val", "seconds")
    assert xs_s == pytest.approx([0.0, 1.0, 2.0])
    steps, lr = run_curve(run_, "lr", "iter")
    assert len(steps) == 20 and set(lr) == {3e-3}


def test_axis_ticks_are_whole_iterations_and_round_values() -> None:
    ticks = nice_ticks(0, 170, 4, integer=True)
    assert ticks == [0, 50, 100, 150] and all(float(t).is_integer() for t in ticks)
    assert nice_ticks(0, 3, 10, integer=True) == [0, 1, 2, 3]  # never 0.5 iterations
    assert y_labels([1.5, 2.0, 2.5]) == ["1.5", "2.0", "2.5"]
    assert y_labels([0.0, 0.001, 0.002]) == ["0e+00", "1e-03", "2e-03"]
    assert log_ticks(0.01, 10, 4) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]
    assert log_ticks(1.6, 4.2, 4) == [2, 3, 4]  # less than a decade: round linear values


# -- rows ---------------------------------------------------------------------------------------


def test_rows_from_records_sort_filter_and_baseline(tmp_path: Path) -> None:
    paths = [fake_run(tmp_path, "long", iters=400), fake_run(tmp_path, "short", iters=200)]
    rows = [row_of(r) for r in load_runs(paths)]
    long, short = rows
    assert long.val_source == "estimate" and long.best_iter == 400
    assert long.val_loss == pytest.approx(1.65 + 2.6 * math.exp(-400 / 120))
    assert long.chars == 400 * 16 * 32 and long.iters == 400 and long.status == "finished"
    assert long.shape == "1×2×32 · 32" and long.params == short.params
    assert long.gap == pytest.approx(0.03)  # val - train at the best eval
    assert [r.name for r in sort_rows(rows, "val_loss")] == ["long", "short"]
    assert [r.name for r in sort_rows(rows, "val_loss", reverse=True)] == ["short", "long"]
    assert [r.name for r in rows if matches(r, "SHO fin")] == ["short"]
    based = with_baseline(rows, "short")
    assert based[1].deltas["val_loss"] == 0.0
    assert based[0].deltas["val_loss"] == pytest.approx(long.val_loss - short.val_loss)
    with pytest.raises(CharLMError, match="--sort"):
        sort_rows(rows, "nope")


def test_a_run_without_values_sorts_last_and_shows_dashes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / METRICS).write_text("")
    rows = [row_of(r) for r in load_runs([fake_run(tmp_path, "a", iters=100), empty])]
    assert [r.name for r in sort_rows(rows, "val_loss", reverse=True)] == ["a", "empty"]
    assert to_markdown(rows).splitlines()[3].count("–") >= 5


def test_hostile_names_never_reach_a_terminal_raw(tmp_path: Path) -> None:
    path = fake_run(tmp_path, "evil\x1b[2Jname|x", iters=100)
    rows = [row_of(r) for r in load_runs([path])]
    for text in (to_markdown(rows), to_csv(rows), to_json(rows)):
        assert "\x1b" not in text
    assert r"evil\\x1b[2Jname\|x" in to_markdown(rows)  # shows as evil\x1b[2Jname|x


def test_ladder_folders_expand_to_their_rungs_in_order(tmp_path: Path) -> None:
    ladder = tmp_path / "ladder-x"
    for name in ("zeta", "alpha"):
        fake_run(ladder, name, iters=100)
    (ladder / LADDER).write_text(json.dumps({"rungs": ["zeta", "alpha"]}))
    assert [p.name for p in resolve_runs([ladder])] == ["zeta", "alpha"]
    assert [r.label for r in load_runs(resolve_runs([ladder]))] == [
        "ladder-x/zeta",
        "ladder-x/alpha",
    ]
    with pytest.raises(CharLMError, match="no such run"):
        resolve_runs([tmp_path / "missing"])


# -- exports, parsed back, and the same numbers as `eval` --------------------------------------


def test_exports_parse_back_and_agree_with_eval(trained: Path, capsys) -> None:
    runs = [str(trained / "gpt-a"), str(trained / "bigram-b")]
    assert run(["--no-ui", "compare", *runs, "--format", "json", "--full-eval"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["gpt-a", "bigram-b"]
    for row in rows:
        assert row["val_source"] == "full"
        assert run(["eval", row["path"], "--json"]) == 0
        ev = json.loads(capsys.readouterr().out)
        assert (row["val_loss"], row["val_top1"], row["val_top5"]) == pytest.approx(
            (ev["loss"], ev["top1"], ev["top5"]), abs=1e-9
        )
        assert row["best_iter"] == ev["iter"] and row["iters"] == 30

    assert run(["--no-ui", "compare", *runs, "--format", "csv"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in parsed] == ["gpt-a", "bigram-b"]
    for got, want in zip(parsed, rows, strict=True):
        assert float(got["val_loss"]) == want["val_loss"]  # floats written exactly
        assert int(got["params"]) == want["params"] and got["val_source"] == "full"

    assert run(["--no-ui", "compare", *runs, "--format", "markdown", "--sort", "val_loss"]) == 0
    text = capsys.readouterr().out
    table = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    body = [
        dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True))
        for ln in table[2:]
    ]
    by_name = {r["name"]: r for r in rows}
    assert [b["run"] for b in body] == sorted(by_name, key=lambda n: by_name[n]["val_loss"])
    for b in body:
        assert float(b["val loss"]) == pytest.approx(by_name[b["run"]]["val_loss"], abs=5e-5)
        assert b["top@1"] == f"{by_name[b['run']]['val_top1']:.1%}"
    assert "every position of the val split" in text


def test_the_full_eval_cache_follows_its_checkpoint(trained: Path) -> None:
    run_dir = trained / "gpt-a"
    first = full_eval(run_dir)
    assert read_full_eval(run_dir) == first and (run_dir / FULL_EVAL).is_file()
    best = run_dir / "best.pt"
    st = best.stat()
    os.utime(best, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new best.pt
    assert read_full_eval(run_dir) is None
    (run_dir / FULL_EVAL).write_text('{"evals": [{"checkpoint": 3}], "x": []}')
    assert read_full_eval(run_dir) is None  # somebody else's file: ignored, not trusted
    assert full_eval(run_dir).loss == pytest.approx(first.loss)


def test_compare_refuses_bad_input_in_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    a = str(trained / "gpt-a")
    cases = [
        (["--no-ui", "compare", str(tmp_path / "nope")], "no such run"),
        (["--no-ui", "compare", a, "--sort", "colour"], "--sort must be one of"),
        (["--no-ui", "compare", a, "--baseline", "zzz"], "--baseline 'zzz' is not one of"),
        (["--no-ui", "compare", str(tmp_path)], "holds no runs"),
        (["export", a], "export what?"),
    ]
    for argv, message in cases:
        assert run(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


# -- TensorBoard --------------------------------------------------------------------------------


def test_without_tensorboard_one_line_says_how_to_install_it(
    tiny_args, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr("charlm_tui.core.runs.tensorboard.available", lambda: False)
    out = tmp_path / "run"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[tensorboard]"' in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written


def _scalars(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    return {"scalars": scalars, "tensors": acc.Tags()["tensors"], "plugins": acc.PluginAssets}


def test_tensorboard_event_files_read_back(tiny_args, tmp_path: Path, capsys) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--tensorboard"]) == 0
    capsys.readouterr()
    live = _scalars(out / TENSORBOARD)["scalars"]
    for tag in ("loss/train", "loss/val", "top1/val", "top5/val", "bpc/val", "opt/lr"):
        assert tag in live, tag
    for tag in ("opt/grad_norm", "speed/tokens_per_s", "train/step_loss", "best/val_loss"):
        assert tag in live, tag
    assert [s for s, _ in live["loss/val"]] == [0, 10, 20, 30]
    evals = [e for e in load_runs([out])[0].evals]
    assert [v for _, v in live["loss/val"]] == pytest.approx([e.val.loss for e in evals])
    tensors = _scalars(out / TENSORBOARD)["tensors"]
    assert any(t.startswith("sample") for t in tensors)
    assert any(t.startswith("config") for t in tensors)

    # the same run converted after the fact gives the same scalars
    assert run(["export", str(out), "--tensorboard"]) == 2  # already there
    assert "--overwrite" in capsys.readouterr().err
    assert run(["export", str(out), "--tensorboard", "--overwrite"]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    exported = _scalars(out / TENSORBOARD)["scalars"]
    assert exported["loss/val"] == pytest.approx(live["loss/val"])
    assert len(list((out / TENSORBOARD).glob("events.out.tfevents.*"))) == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(out / TENSORBOARD))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["model.n_embd"].number_value == 32 and hp["train.preset"].string_value == "tiny"
    assert "_hparams_/session_end_info" in content  # the run ended


# -- the compare screen -------------------------------------------------------------------------


def test_home_marks_runs_and_opens_the_comparison(tmp_path: Path) -> None:
    for name, iters in (("alpha", 400), ("beta", 200), ("gamma", 300)):
        fake_run(tmp_path, name, iters=iters, age_s=iters)

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, clock=lambda: FIXED_TIME)
        async with app.run_test(size=(120, 36)) as pilot:
            home = app.screen
            assert isinstance(home, HomeScreen)
            await pilot.press("c")  # nothing marked: says so, opens nothing
            assert isinstance(app.screen, HomeScreen)
            order = [r.path.name for r in home.runs]
            await pilot.press("space", "space")  # marks the first two (the cursor moves on)
            assert {p.name for p in home.marked} == set(order[:2])
            await pilot.press("up", "space")  # and unmarks the second
            assert {p.name for p in home.marked} == {order[0]}
            await pilot.press("space", "c")  # the cursor was on the third: marked too
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            assert sorted(r.label for r in screen.runs) == sorted([order[0], order[2]])
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)

    scenario(go())


def test_compare_screen_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = [fake_run(tmp_path, n, iters=i) for n, i in (("a", 400), ("b", 200), ("c", 300))]

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, compare=_open(paths))
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            screen = app.screen
            chart = screen.query_one(CompareChart)
            table = screen.query_one(DataTable)
            assert [r.name for r in screen.rows] == ["a", "b", "c"]  # as given
            colours = dict(screen.run_colors)

            await pilot.press("s")  # sort: first column, then the next...
            assert screen.sort_key == "name"
            for _ in range(COLUMN_KEYS.index("val_loss")):
                await pilot.press("s")
            assert screen.sort_key == "val_loss"
            assert [r.name for r in screen.rows] == ["a", "c", "b"]
            await pilot.press("r")
            assert [r.name for r in screen.rows] == ["b", "c", "a"]
            await pilot.click(DataTable, offset=(2, 0))  # a header click sorts by its column
            assert screen.sort_key == "name" and not screen.reverse
            assert dict(screen.run_colors) == colours  # sorting never repaints a run

            await pilot.press("slash", "b")  # filter by typing
            assert [r.name for r in screen.rows] == ["b"]
            assert len(chart.runs) == 1
            await pilot.press("escape", "slash", "backspace", "enter")
            assert [r.name for r in screen.rows] == ["a", "b", "c"]
            assert table.has_focus

            assert chart.x_axis == "iter"
            await pilot.press("x")
            assert chart.x_axis == "chars" and "chars seen" in str(chart.border_title)
            await pilot.press("x")
            assert chart.x_axis == "seconds"
            await pilot.press("x")
            await pilot.press("l")
            assert chart.log_y and "log-y" in str(chart.border_title)
            await pilot.press("right_parenthesis")
            assert chart.smoothing == 0.6 and "smooth 0.6" in str(chart.border_title)
            await pilot.press("right_parenthesis", "left_parenthesis", "left_parenthesis")
            assert chart.smoothing == 0.0 and "raw" in str(chart.border_title)
            await pilot.press("t")
            assert chart.show_train

            await pilot.press("full_stop")  # the cursor starts at the right end
            assert chart.cursor == 400
            await pilot.press("comma")
            assert chart.cursor == 392
            readout = str(chart.query_one("#compare-readout").render())
            assert "cursor at 392:" in readout
            await wait_for(pilot, lambda: "cursor" in [str(k.value) for k in table.columns])
            cols = [str(c.label) for c in table.columns.values()]
            assert "▸ 392" in cols  # each run's val/train at the cursor, beside its name
            at = cols.index("▸ 392")
            assert table.get_row(str(paths[0]))[at].plain.startswith("1.")
            assert table.get_row(str(paths[1]))[at].plain == "–/–"  # b ends before 392

            await pilot.press("down", "b")  # pin b: the table shows differences from it
            assert screen.baseline == "b"
            cols = [str(c.label) for c in table.columns.values()]
            assert "Δ val" in cols
            assert table.get_row(str(paths[1]))[cols.index("Δ val")].plain == "base"

            await pilot.press("ctrl+s")
            shots = list(tmp_path.glob("charlm-compare-*.svg"))
            assert len(shots) == 1 and "<svg" in shots[0].read_text(encoding="utf-8")

            await pilot.press("enter")  # the selected run's dashboard
            assert isinstance(app.screen, DashboardScreen)

    scenario(go())


def _open(paths: list[Path]):
    from charlm_tui.tui.messages import OpenCompare

    return OpenCompare(paths)


def test_compare_follows_a_run_still_training(tmp_path: Path) -> None:
    path = fake_run(tmp_path, "live", iters=200, done=None)

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, compare=_open([path]))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            screen = app.screen
            assert screen.rows[0].iters == 200
            writer = MetricsWriter(path / METRICS)
            m = Metrics(1.2, 0.5, 0.9, 100)
            writer.handle(EvalEvent(300, m, m, 1e-3, 1, 0.1, 1, 3, 0.5, 1, 1.2, True))
            writer.close()
            await wait_for(pilot, lambda: screen.rows[0].iters == 300)
            assert screen.rows[0].val_loss == 1.2
            assert screen.query_one(CompareChart).runs[0][0].evals[-1].iter == 300

    scenario(go())


def test_at_60x20_six_runs_leave_the_chart_its_rows(tmp_path: Path) -> None:
    """Six runs' legend, a cursor readout and the table once left the plot one row at
    60 x 20, and a readout of six values cannot fit a line there: the plot keeps 6 rows,
    the legend names all six, and the values at the cursor go to a table column."""
    paths = [fake_run(tmp_path, f"a-long-run-name-{i}", iters=200) for i in range(6)]

    async def go() -> None:
        app = CharLMApp(runs_dir=tmp_path, compare=_open(paths))
        async with app.run_test(size=(60, 20)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
            plot = app.screen.query_one("#compare-plot", CurvePlot)
            legend = app.screen.query_one("#compare-legend")
            await wait_for(pilot, lambda: plot.size.height >= 6 and legend.size.height == 3)
            table = app.screen.query_one(DataTable)
            assert "cursor" not in [str(k.value) for k in table.columns]
            await pilot.press("full_stop")
            await wait_for(pilot, lambda: "cursor" in [str(k.value) for k in table.columns])
            values = [str(table.get_cell_at((i, 1))) for i in range(table.row_count)]
            assert len(values) == 6 and all(v != "–" and float(v) > 0 for v in values)
            assert plot.size.height >= 6 and legend.display

    scenario(go())


# -- the dashboard's chart ----------------------------------------------------------------------


def test_dashboard_chart_keys_work_without_focusing_it(tmp_path: Path) -> None:
    path = fake_run(tmp_path, "run", iters=400)

    async def go() -> None:
        app = CharLMApp(watch=path)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
            chart = app.screen.query_one(LossChart)
            assert not chart.has_focus_within
            await pilot.press("l", "x", "right_parenthesis", "v")
            assert chart.log_y and chart.x_axis == "chars" and chart.smoothing == 0.6
            assert chart.second == "grad_norm" and chart.has_class("-tall")
            assert "smooth 0.6" in str(chart.border_title)
            legend = str(chart.query_one("#loss-legend").render())
            assert "val" in legend and "train" in legend

    scenario(go())


def test_no_axes_before_the_first_step(tmp_path: Path) -> None:
    run_dir = tmp_path / "new"
    run_dir.mkdir()
    (run_dir / METRICS).write_text("")

    async def go() -> None:
        app = CharLMApp(watch=run_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
            await pilot.pause(0.2)
            plot = app.screen.query_one("#loss-plot", CurvePlot)
            shown = str(plot.render())
            assert "waiting for the first steps" in shown and "1.00" not in shown

    scenario(go())
