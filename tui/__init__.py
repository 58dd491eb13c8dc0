"""The front ends: the `charlm-tui` command line (cli/) and the Textual app (app.py,
screens/, widgets/), with what both show runs through (tables, curves, formatting).

May import anything of core/. Importing a command's module imports neither textual nor
torch: `--help` and the headless paths that do not train load neither.
"""
