"""Progress a user sees wherever the output goes.

On a terminal (stderr is a tty) long loops draw tqdm bars. When it is not (output to a file, a
pipe, a CI log), they print lines on stdout instead, each with the time elapsed and an estimate
of the time left: after the first step, then at least every :data:`INTERVAL` seconds, and at the
end. ``--quiet`` switches both off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

INTERVAL = 30.0
"""Longest gap, in seconds, between two progress lines of a running loop."""


def on_terminal() -> bool:
    """Whether progress is drawn as bars (stderr is a terminal) rather than printed as lines."""
    return sys.stderr.isatty()


def clock_text(seconds: float) -> str:
    """``0:04:05`` (hours:minutes:seconds)."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Ticker:
    """When a loop of ``total`` steps (``done`` already, e.g. on resume) is due a progress
    line, and its timing: elapsed since the ticker started, and the time left at the rate of
    the steps done since.

    Args:
        total: steps in the whole loop.
        done: steps done before this process started.
        interval: longest gap between two lines, in seconds.
        clock: seconds (monotonic); replaceable in tests.
    """

    def __init__(self, total: int, done: int = 0, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.first = done
        self.interval = interval
        self.clock = clock
        self.t0 = clock()
        self.last: float | None = None

    def due(self, done: int) -> bool:
        """Whether a line is due after step ``done``: the first step, ``interval`` seconds
        after the last line, or the last step."""
        return (self.last is None or done >= self.total
                or self.clock() - self.last >= self.interval)

    def timing(self, done: int) -> str:
        """``elapsed 0:01:02  ETA 0:03:00`` after ``done`` steps (marks a line as printed)."""
        now = self.clock()
        self.last = now
        elapsed = now - self.t0
        steps = done - self.first
        if done >= self.total:
            eta = "0:00:00"
        elif steps > 0 and elapsed > 0:
            eta = clock_text(elapsed / steps * (self.total - done))
        else:
            eta = "unknown"
        return f"elapsed {clock_text(elapsed)}  ETA {eta}"
