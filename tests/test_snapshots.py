"""Snapshots of the main screens with deterministic content (pytest-textual-snapshot).

Update after an intended visual change with: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.tui.app import CharLMApp
from tests.tui_helpers import FIXED_TIME, fake_run


@pytest.fixture()
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    root = Path("runs")  # relative: the same text on every machine
    fake_run(root, "shakespeare-tiny", iters=400, age_s=7200)
    fake_run(root, "still-going", iters=200, done=None, age_s=30)
    return root


def test_home(runs: Path, snap_compare) -> None:
    app = CharLMApp(runs_dir=runs, clock=lambda: FIXED_TIME)
    assert snap_compare(app, terminal_size=(100, 24))


def test_dashboard_following_a_run(runs: Path, snap_compare) -> None:
    app = CharLMApp(watch=runs / "shakespeare-tiny")
    assert snap_compare(app, terminal_size=(100, 30))


def test_dashboard_at_80x24(runs: Path, snap_compare) -> None:
    app = CharLMApp(watch=runs / "shakespeare-tiny")
    assert snap_compare(app, terminal_size=(80, 24))


def test_generate_pane_with_next_character_view(runs: Path, snap_compare) -> None:
    from charlm_tui.tui.screens.generate import GenerateScreen
    from charlm_tui.tui.widgets.next_char import NextChar
    from tests.tui_helpers import opened
    from tests.waiting import wait_for

    path = runs / "shakespeare-tiny" / "best.pt"
    app = CharLMApp(generate=(path, GenerateOptions(prompt="KING")))

    async def ready(pilot) -> None:  # the checkpoint and the prediction come from workers
        screen = await opened(pilot, pilot.app, GenerateScreen)
        panel = screen.query_one(NextChar)
        await wait_for(pilot, lambda: bool(panel.choices), "the next-character view")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 24), run_before=ready)


def test_new_run_form(runs: Path, snap_compare) -> None:
    app = CharLMApp(runs_dir=runs, clock=lambda: FIXED_TIME)
    assert snap_compare(app, terminal_size=(80, 24), press=["n"])


def test_inspect_screen(runs: Path, snap_compare) -> None:
    """Surprise colours, the cursor's panel, then the attention strip of its prediction."""
    from charlm_tui.core.decoding.options import Source
    from charlm_tui.tui.messages import OpenInspect
    from charlm_tui.tui.screens.inspect import InspectScreen
    from tests.conftest import make_text
    from tests.waiting import wait_for

    text = make_text(400, seed=2)
    path = runs / "shakespeare-tiny" / "best.pt"
    app = CharLMApp(inspect=OpenInspect(path, Source(text=text, name="a play"), text))

    async def ready(pilot) -> None:
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, InspectScreen), "the inspect screen"
        )
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.press(*["right"] * 9, "a")
        screen = pilot.app.screen  # the attention strip is read in a worker
        await wait_for(pilot, lambda: screen.ins.cached(9) is not None, "the attention strip")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=ready)


def test_dashboard_at_60x20(runs: Path, snap_compare) -> None:
    app = CharLMApp(watch=runs / "shakespeare-tiny")
    assert snap_compare(app, terminal_size=(60, 20))


def test_home_with_a_long_corpus_path_at_120(runs: Path, snap_compare) -> None:
    run_dir = runs / "long-corpus"
    fake_run(runs, "long-corpus", iters=100, age_s=600)
    config = json.loads((run_dir / "config.json").read_text())
    config["train"]["data"] = "/home/someone/datasets/corpora/english/" + "x" * 60 + "/names.txt"
    (run_dir / "config.json").write_text(json.dumps(config))
    os.utime(run_dir / "config.json", (FIXED_TIME - 600, FIXED_TIME - 600))
    app = CharLMApp(runs_dir=runs, clock=lambda: FIXED_TIME)
    assert snap_compare(app, terminal_size=(120, 24))


def test_home_at_60x20(runs: Path, snap_compare) -> None:
    app = CharLMApp(runs_dir=runs, clock=lambda: FIXED_TIME)
    assert snap_compare(app, terminal_size=(60, 20))


def test_dashboard_chart_controls(runs: Path, snap_compare) -> None:
    """Log-y, characters on x, smoothing 0.6 (raw faint behind), gradient norm below."""
    from charlm_tui.tui.screens.dashboard import DashboardScreen
    from charlm_tui.tui.widgets.loss_chart import CurvePlot
    from tests.tui_helpers import dashboard_drawn
    from tests.waiting import wait_for

    app = CharLMApp(watch=runs / "shakespeare-tiny")

    async def settled(pilot) -> None:  # the lower chart grows: its axes are laid out again
        def drawn() -> bool:
            screen = pilot.app.screen
            return isinstance(screen, DashboardScreen) and dashboard_drawn(screen)

        await wait_for(pilot, drawn, "the dashboard")
        await pilot.press("l", "x", "right_parenthesis", "v")
        await pilot.pause()
        plots = pilot.app.screen.query(CurvePlot)
        await wait_for(pilot, lambda: all(p.settled for p in plots), "the charts laid out")

    assert snap_compare(app, terminal_size=(120, 36), run_before=settled)


def _compared(runs: Path) -> CharLMApp:
    from charlm_tui.core.runs.scores import full_eval
    from charlm_tui.tui.messages import OpenCompare
    from tests.conftest import make_text

    Path("play.txt").write_text(make_text(5000, seed=1), encoding="utf-8")  # fake_run's corpus
    full_eval(runs / "shakespeare-tiny")  # one run scored on its full val split, one not
    return CharLMApp(compare=OpenCompare([runs / "shakespeare-tiny", runs / "still-going"]))


def test_compare_screen(runs: Path, snap_compare) -> None:
    app = _compared(runs)
    assert snap_compare(app, terminal_size=(120, 36), press=["t", "full_stop", "comma", "b"])


def test_compare_screen_at_80x24(runs: Path, snap_compare) -> None:
    assert snap_compare(_compared(runs), terminal_size=(80, 24))


def test_dashboard_with_steering_markers(runs: Path, snap_compare) -> None:
    """Two changes made while the run trained: vertical lines on the chart, the latest in
    the metrics panel."""
    from charlm_tui.core.runs.events import SteerEvent
    from charlm_tui.core.runs.records import MetricsWriter

    run_dir = runs / "shakespeare-tiny"
    writer = MetricsWriter(run_dir / "metrics.jsonl")
    writer.handle(SteerEvent(150, "lr_scale", 1.0, 0.5, "control.json"))
    writer.handle(SteerEvent(300, "eval_interval", 100, 50, "control.json"))
    writer.close()
    app = CharLMApp(watch=run_dir)
    assert snap_compare(app, terminal_size=(120, 36))


def test_home_with_tags_and_notes_at_80x24(runs: Path, snap_compare) -> None:
    """The tags column, cut to fit, and the selected run's tags and notes under the table."""
    from charlm_tui.core.runs.labels import Labels, write_labels

    tags = ("baseline", "shakespeare", "tiny", "répété", "模型")
    write_labels(runs / "shakespeare-tiny", Labels(tags, "lr 3e-3 was too high?\nTry 1e-3."))
    app = CharLMApp(runs_dir=runs, clock=lambda: FIXED_TIME)
    assert snap_compare(app, terminal_size=(80, 24), press=["down"])
