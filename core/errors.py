"""Errors that are the user's to fix, as opposed to bugs.

The CLI prints a `CharLMError` as one line on stderr and exits with code 2; anything
else is a bug and keeps its traceback.
"""


class CharLMError(Exception):
    """Bad input: a path, a value, a corpus or a checkpoint the user can fix."""

    exit_code = 2


class TrainingDiverged(CharLMError):
    """A non-finite loss or gradient: the run stops before the optimizer step."""

    exit_code = 1


class CheckpointWriteError(CharLMError):
    """The disk refused a checkpoint; the previous one is still intact."""

    exit_code = 1
