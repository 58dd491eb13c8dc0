"""A run directory and what it records: its layout and lock, the typed events and their
JSONL records, the control file that steers it, full-split scores, the run view every
screen and command reads, listing and comparing runs, TensorBoard export.

Imports the top of core/, text/, models/ and decoding/.
"""
