"""A run directory and what it records: its layout and lock, the typed events and their
JSONL records, the control file that steers it, full-split scores, the run view every
screen and command reads, listing runs, their labels (tags and notes) and provenance
(what they ran on), renaming and deleting them.

Imports the top of core/, text/, models/, internals/ and decoding/.
"""
