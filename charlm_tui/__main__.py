"""`python -m charlm_tui`: the `charlm-tui` command line."""

from charlm_tui.tui.cli import main

if __name__ == "__main__":
    main()
