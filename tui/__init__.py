"""The terminal front-ends of charlm: the typer CLI and the Textual dashboard.

Importing this package imports neither textual nor torch-heavy UI code: the headless
path (`charlm-tui --no-ui ...`) must never load textual.
"""
