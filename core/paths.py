"""Where charlm-tui keeps things on disk: runs, and caches it can always rebuild.

- Runs: `$CHARLM_RUNS_DIR`, else `checkpoints/` in the current folder (what `train`,
  `runs` and home use unless told otherwise).
- Caches (encoded corpora, the built-in corpus's text, compiled decoders):
  `$CHARLM_DATA_DIR`; else, in a source checkout (an editable install), its `data/`
  folder; else the platform's user cache folder (platformdirs: `$XDG_CACHE_HOME/
  charlm-tui` or `~/.cache/charlm-tui` on Linux). Never inside site-packages.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

RUNS_ENV = "CHARLM_RUNS_DIR"
DATA_ENV = "CHARLM_DATA_DIR"
# The source tree: this file is <checkout>/core/paths.py there, and
# site-packages/charlm_tui/core/paths.py in a wheel install, which has no pyproject.toml.
_CHECKOUT = Path(__file__).resolve().parent.parent


def runs_dir() -> Path:
    return Path(os.environ.get(RUNS_ENV) or "checkpoints")


def data_dir() -> Path:
    if env := os.environ.get(DATA_ENV):
        return Path(env)
    checkout = _CHECKOUT / "data"
    if (_CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return Path(platformdirs.user_cache_dir("charlm-tui", appauthor=False))
