"""Which steps run on the hub's own thread ("inline") instead of the step pool.

Handing a step to a pool thread and its result back costs two thread switches, each a
hand-over of the GIL: more than a step that finishes in microseconds costs itself. A step
whose runs have been quick several times in a row is therefore run by the hub directly, and
sent back to the pool the first time an inline run is not quick (it must then be quick twice
as many times in a row to come back). Steps with a timeout, a heartbeat timeout or a circuit
breaker, and async steps, always run where they can be watched. ``@legato.step(inline=True |
False)`` decides for one step; ``Engine(inline_steps=False)`` turns it off for an engine.

What was seen is kept on the step's definition (shared by the engines of a process: it is a
property of the code) and updated from pool threads without a lock: a lost count only delays
a promotion. An inline run that a garbage collection made slow is not held against the step
(collections are triggered by any allocation and happen wherever the program is).
"""

from __future__ import annotations

import gc
import threading
from typing import Any

from legato.runtime.registry import StepDef

#: a run shorter than this (wall clock, seconds) is quick
QUICK = 100e-6
#: quick pool runs in a row before a step runs inline
FIRST_STREAK = 8
#: the streak needed after repeated demotions stops growing here
MAX_STREAK = 1 << 16


class _Collections:
    """Counts the garbage collections of this process (a ``gc.callbacks`` entry, added once
    by the first worker that runs steps inline)."""

    runs = 0
    _lock = threading.Lock()
    _watching = False

    @classmethod
    def watch(cls) -> None:
        with cls._lock:
            if not cls._watching:
                gc.callbacks.append(cls._count)
                cls._watching = True

    @classmethod
    def _count(cls, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            cls.runs += 1


COLLECTIONS = _Collections


class InlinePolicy:
    """Whether an unwatched sync step runs on the hub's thread, for one worker."""

    __slots__ = ("enabled", "quick")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.quick = QUICK  # read when the worker starts (tests on a loaded machine widen it)
        if enabled:
            COLLECTIONS.watch()

    def runs_inline(self, sdef: StepDef) -> bool:
        """Whether an attempt of ``sdef`` (sync, nothing to watch) runs on the hub's thread."""
        if not self.enabled or sdef.never_inline:
            return False
        if sdef.inline is not None:
            return sdef.inline
        return sdef.promoted

    def ran_in_pool(self, sdef: StepDef, seconds: float) -> None:
        """Called on a pool thread after an attempt of an unwatched sync step."""
        if sdef.inline is not None or sdef.promoted:
            return
        if seconds >= self.quick:
            sdef.quick_streak = 0
            return
        n = sdef.quick_streak + 1
        if n >= (sdef.quick_needed or FIRST_STREAK):
            sdef.promoted = True
            n = 0
        sdef.quick_streak = n

    def ran_inline(self, sdef: StepDef, seconds: float, collections: int) -> None:
        """Called by the hub after an inline attempt that began when ``COLLECTIONS.runs``
        was ``collections``: one that was not quick, and not for a collection, demotes."""
        if seconds < self.quick or sdef.inline is not None or COLLECTIONS.runs != collections:
            return
        sdef.promoted = False
        sdef.quick_streak = 0
        sdef.quick_needed = min((sdef.quick_needed or FIRST_STREAK) * 2, MAX_STREAK)

    @staticmethod
    def refused(sdef: StepDef) -> None:
        """An inline attempt was about to wait on legato: this step always runs in the pool."""
        sdef.never_inline = True
        sdef.promoted = False
