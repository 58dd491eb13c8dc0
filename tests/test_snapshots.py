"""Snapshots of the main screens with deterministic content (pytest-textual-snapshot).

Update after an intended visual change with: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.sampling import GenerateOptions
from tests.tui_helpers import FIXED_TIME, fake_run
from tui.app import CharLMApp


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
    path = runs / "shakespeare-tiny" / "best.pt"
    app = CharLMApp(generate=(path, GenerateOptions(prompt="KING")))
    assert snap_compare(app, terminal_size=(100, 24))


def test_new_run_form(runs: Path, snap_compare) -> None:
    app = CharLMApp(runs_dir=runs, clock=lambda: FIXED_TIME)
    assert snap_compare(app, terminal_size=(80, 24), press=["n"])


def test_dashboard_chart_controls(runs: Path, snap_compare) -> None:
    """Log-y, characters on x, smoothing 0.6 (raw faint behind), gradient norm below."""
    app = CharLMApp(watch=runs / "shakespeare-tiny")
    assert snap_compare(app, terminal_size=(120, 36), press=["l", "x", "plus", "m"])


def _compared(runs: Path) -> CharLMApp:
    from core.compare import full_eval
    from tests.conftest import make_text
    from tui.messages import OpenCompare

    Path("play.txt").write_text(make_text(5000, seed=1), encoding="utf-8")  # fake_run's corpus
    full_eval(runs / "shakespeare-tiny")  # one run scored on its full val split, one not
    return CharLMApp(compare=OpenCompare([runs / "shakespeare-tiny", runs / "still-going"]))


def test_compare_screen(runs: Path, snap_compare) -> None:
    app = _compared(runs)
    assert snap_compare(app, terminal_size=(120, 36), press=["t", "full_stop", "comma", "b"])


def test_compare_screen_at_80x24(runs: Path, snap_compare) -> None:
    assert snap_compare(_compared(runs), terminal_size=(80, 24))
