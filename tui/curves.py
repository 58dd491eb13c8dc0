"""Curves for the screens' charts: the curves and the smoothing themselves are
core/report/curves.py's (the report's images draw the same lines); here, what reading a
chart at one x takes: the value there, and a readout's smoothed latest value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from charlm_tui.core.report.curves import X_AXES as X_AXES
from charlm_tui.core.report.curves import XAxis as XAxis
from charlm_tui.core.report.curves import ema as ema
from charlm_tui.core.report.curves import run_curve as run_curve
from charlm_tui.core.report.curves import steer_marks as steer_marks


def value_at(xs: Sequence[float], ys: Sequence[float], x: float) -> float | None:
    """The curve's value at x, linearly interpolated; None outside its range."""
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    lo, hi = 0, len(xs) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    if xs[hi] == xs[lo] or x <= xs[lo]:
        return ys[lo] if x <= xs[lo] else ys[hi]
    t = (x - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + t * (ys[hi] - ys[lo])


def smoothed(values: Sequence[float], weight: float) -> float | None:
    """The last point of the EMA of the finite values; None when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return ema(finite, weight)[-1] if finite else None
