"""What pip installs: one import package, charlm_tui, whatever else is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.train_helpers import train_argv

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "charlm_tui", "core", "tui")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of the sources (offline: the venv's setuptools builds it)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, src / name)  # type: ignore[operator]
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    (found,) = out.glob("charlm_tui-*.whl")
    return found


def test_the_wheel_installs_only_charlm_tui(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"charlm_tui"}
    for part in ("core/models/gpt.py", "core/runs/events.py", "tui/app.py", "tui/charlm.tcss"):
        assert f"charlm_tui/{part}" in names
    assert not [n for n in names if "/tests/" in n or "/bench/" in n]
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "License-Expression: MIT" in metadata


def test_foreign_core_and_tui_packages_change_nothing(tmp_path: Path) -> None:
    """Another distribution's top-level `core` and `tui`, first on the path: the CLI never
    imports them (they refuse to be imported), and a training runs."""
    shadow = tmp_path / "site"
    for name in ("core", "tui"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(f"raise ImportError('the foreign {name}')\n")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    argv = train_argv(corpus, tmp_path / "run", max_iters=20)
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "last.pt").is_file()
    help_ = subprocess.run(
        [sys.executable, "-m", "charlm_tui", "--help"], cwd=tmp_path, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert help_.returncode == 0 and "charlm-tui" in help_.stdout


def test_caches_go_to_the_user_cache_folder_outside_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charlm_tui.core import paths

    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.data_dir() == ROOT / "data"  # this checkout (an editable install)
    monkeypatch.setattr(paths, "_CHECKOUT", tmp_path / "site-packages" / "charlm_tui")
    assert paths.data_dir() == tmp_path / "xdg" / "charlm-tui"  # a wheel install
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "mine"))
    assert paths.data_dir() == tmp_path / "mine"
    monkeypatch.delenv(paths.RUNS_ENV, raising=False)
    assert paths.runs_dir() == Path("checkpoints")
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "runs"))
    assert paths.runs_dir() == tmp_path / "runs"
