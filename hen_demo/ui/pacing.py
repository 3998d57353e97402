"""Pacing of streamed frames, in one place for every tab (Explore, Compare, Text -> Image, Classroom recall).

A run is computed at full speed inside its compute event (limited concurrency: ``concurrency_limit``), and played
back at the chosen pace by a playback event that only sends frames already computed and holds no compute slot
(``PLAYBACK`` = unlimited concurrency). So a visitor who asks for slow motion (or pauses) never keeps another
visitor waiting, and no value of fps can hold a worker: fps is 0 (as fast as possible) or FPS_MIN..FPS_MAX
(:func:`check_fps`), and every streamed request still stops at the public time limit (``errors.user_errors``
checks it between frames).

While frames stream as fast as they are computed, the plots (each redrawn by Plotly in the browser) are re-sent
at most PLOT_HZ times a second (:class:`PlotThrottle`); the first and the last frame always carry them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator

FPS_MIN, FPS_MAX = 0.5, 30.0  # playback frames / s; 0 = as fast as possible
# measured in headless chromium: re-drawing the energy plot and the histogram at every frame held the page to
# ~10 frames / s, so unthrottled streams re-send them at most this often
PLOT_HZ = 8.0
CLASSROOM_FPS = 1.0  # the "classroom pace" preset: one iteration a second, a pace a room can follow
PLAYBACK = None  # concurrency_limit of playback events: unlimited (they hold no compute slot)


def check_fps(fps) -> float:
    """fps as a float: 0 (as fast as possible) or FPS_MIN..FPS_MAX frames a second, else a ValueError sentence."""
    try:
        value = 0.0 if fps is None else float(fps)
    except (TypeError, ValueError):
        raise ValueError(f"Playback speed must be a number of frames a second; got {fps!r}.") from None
    if value == 0.0:
        return 0.0
    if not (math.isfinite(value) and FPS_MIN <= value <= FPS_MAX):
        raise ValueError(f"Playback speed must be 0 (as fast as possible) or between {FPS_MIN:g} and "
                         f"{FPS_MAX:g} frames a second; got {value:g}.")
    return value


class PlotThrottle:
    """Says whether a plot is due: at most ``hz`` times a second, always when forced (first / last frame)."""

    def __init__(self, hz: float = PLOT_HZ, clock: Callable[[], float] = time.monotonic):
        self.period, self.clock, self.last = 1.0 / float(hz), clock, -math.inf

    def due(self, force: bool = False) -> bool:
        now = self.clock()
        if force or now - self.last >= self.period:
            self.last = now
            return True
        return False


MAX_PERIOD = 1.0 / FPS_MIN  # s between two frames at most


def paced(items: Iterable, fps: float | None = None, period: float | None = None,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Iterator:
    """Yield ``items`` at most ``fps`` a second, or one every ``period`` seconds (0: as fast as they come), never
    waiting before the first.

    Only for playback (frames already computed, no compute slot held): the wait is a sleep there.
    """
    if period is None:
        fps = check_fps(fps)
        period = 1.0 / fps if fps else 0.0
    elif not (0.0 <= float(period) <= MAX_PERIOD):
        raise ValueError(f"The time between frames must be between 0 and {MAX_PERIOD:g} s; got {period!r}.")
    period = float(period)
    due = None
    for item in items:
        if due is not None and period:
            sleep(max(0.0, due - clock()))
        due = clock() + period
        yield item
