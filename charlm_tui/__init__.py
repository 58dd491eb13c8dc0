"""charlm-tui: train character-level language models in the terminal and play with them.

The installed package has two parts, kept in the repository's top-level folders:
`charlm_tui.core` (core/: data, models, training, runs, decoding; no UI) and
`charlm_tui.tui` (tui/: the Textual app and the `charlm-tui` command line).
pyproject.toml maps them here with setuptools' package-dir.
"""


def __getattr__(name: str) -> str:
    # Looked up when asked for: importlib.metadata costs 30 ms, a fifth of `--help`.
    if name != "__version__":
        raise AttributeError(f"module 'charlm_tui' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("charlm-tui")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
