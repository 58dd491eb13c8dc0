"""Commands about runs as records: runs, compare, export."""
