"""Commands about runs as records: runs, compare, export, and import (a model trained
elsewhere as a run)."""
