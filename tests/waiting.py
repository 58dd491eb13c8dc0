"""Waiting for a condition in tests: one poll loop, for plain code and for a Textual pilot.

Training, decoding and child processes run beside a test; it polls until what it waits
for holds. Past the timeout the wait fails with an AssertionError that names what it
waited for (`what`, e.g. "the run to finish"): the timeout only bounds a hang, and no
test asserts on how long anything took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

TIMEOUT_S = 60.0
INTERVAL_S = 0.05


def _polls(
    condition: Callable[[], object], what: str, timeout: float, interval: float
) -> Iterator[float]:
    """Yields the interval to wait before the next poll while condition() is false;
    raises AssertionError naming `what` once `timeout` seconds have gone by."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        yield interval


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
) -> None:
    """Block until condition() holds (a thread or a child process makes it true)."""
    for pause in _polls(condition, what, timeout, interval):
        time.sleep(pause)  # the poll interval: the loop's only wait


async def wait_for(
    pilot,
    condition: Callable[[], object],
    what: str,
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
) -> None:
    """Let the app run until condition() holds (training and generation are threads)."""
    for pause in _polls(condition, what, timeout, interval):
        await pilot.pause(pause)  # the poll interval: the app handles its messages meanwhile
