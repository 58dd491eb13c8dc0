"""charlm-tui: train character-level language models in the terminal and play with them.

The installed package has two parts, kept in the repository's top-level folders:
`charlm_tui.core` (core/: data, models, training, runs, decoding; no UI) and
`charlm_tui.tui` (tui/: the Textual app and the `charlm-tui` command line).
pyproject.toml maps them here with setuptools' package-dir.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("charlm-tui")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
