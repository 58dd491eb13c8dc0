"""Reading numbers typed into a form field: one rule for every form of the app."""

from __future__ import annotations

import math


def parse_number(raw: str, kind: type) -> int | float | str:
    """The number in `raw` as `kind` (int or float), or what is wrong with it."""
    text = raw.strip().replace("_", "")
    try:
        value = kind(text)
    except ValueError:
        whole = kind is int
        try:
            as_float = float(text)
        except ValueError:
            return "must be a whole number" if whole else "must be a number"
        if whole and as_float.is_integer() and math.isfinite(as_float):
            return int(as_float)  # "1e3" for 1000
        return "must be a whole number" if whole else "must be a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    return value
