"""Values read from files and messages anyone may have written: one check each.

JSON has no integer type apart from numbers, and Python's `bool` is an `int`: every
reader that wants "a whole number" means "an int that is not True or False".
"""

from __future__ import annotations

import math
from typing import Any


def is_int(value: Any) -> bool:
    """A whole number: an int, never a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or a float, never a bool (NaN and infinities included)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_int(value: Any) -> int | None:
    """The value if it is a whole number, else None."""
    return value if is_int(value) else None


def as_finite(value: Any) -> float | None:
    """The value as a float if it is a finite number, else None."""
    return float(value) if is_number(value) and math.isfinite(value) else None
