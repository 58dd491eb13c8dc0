"""The report's seed groups (n, mean ± std, Welch's test, the band chart) and sweeps
(val loss against each option the runs sweep)."""

from __future__ import annotations

from pathlib import Path

import pytest

from charlm_tui.core.report.content import ChartOptions, build_report, report_views
from charlm_tui.core.report.write import write_report
from charlm_tui.tui.cli import run
from tests.train_helpers import train_argv


@pytest.fixture(scope="module")
def groups(corpus_file: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two seed groups of bigrams that differ in their learning rate, two seeds each."""
    root = tmp_path_factory.mktemp("groups")
    for name, lr in (("slow", 1e-3), ("fast", 1e-1)):
        argv = train_argv(corpus_file, root / name, "bigram", (), max_iters=40, seeds=2,
                          eval_interval=20, sample_interval=0, lr=lr, min_lr=1e-4)  # fmt: skip
        assert run(argv) == 0
    return [root / g / m for g in ("slow", "fast") for m in ("s1337", "s1338")]


def test_the_report_tests_the_groups_and_draws_their_bands(
    groups: list[Path], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    report = build_report(report_views(groups), ChartOptions(), "now", sample_finals=False)
    assert [(g.name, g.n) for g in report.groups] == [("slow", 2), ("fast", 2)]
    (test,) = report.tests
    assert test.a == "fast" and test.diff is not None and test.diff < 0  # fast learns more
    assert [s.option for s in report.sweeps] == ["lr"]
    assert [x for x, _ in report.sweeps[0].at_each_value()] == [1e-3, 1e-1]
    done = write_report(report_views(groups), tmp_path / "log.md")
    text = done.path.read_text()
    assert "## Seed groups" in text and "p (Welch)" in text and "| fast | -" in text
    assert "## Sweeps" in text and "| lr | – | 0.1 | 2 |" in text
    files = tmp_path / "log_files"
    for name in ("groups.png", "groups.svg", "sweep.png", "sweep.svg"):
        assert (files / name).stat().st_size > 1000
        assert f"log_files/{name}" in text
    page = write_report(report_views(groups), tmp_path / "log.html").path.read_text()
    assert "<h2>Seed groups</h2>" in page and "<h2>Sweeps</h2>" in page
    assert page.count("<svg") >= 3  # loss, groups, sweep (and the embedding maps)


def test_one_run_per_configuration_has_no_groups_section(
    groups: list[Path], tmp_path: Path
) -> None:
    report = build_report(report_views(groups[::2]), ChartOptions(), "now", sample_finals=False)
    assert report.groups == [] and report.tests == []
    assert report.sweeps == []  # two runs make no scatter
