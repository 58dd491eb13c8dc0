"""Text in: corpora (built-in or the user's), the vocabulary, encoded datasets and their
batches, and the one rule for showing untrusted text on a terminal.

Imports only the modules at the top of core/ (errors, files, paths, values, options,
config).
"""
