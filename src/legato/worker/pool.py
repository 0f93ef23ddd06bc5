"""Where step functions run: a thread pool for sync steps, one asyncio loop for async ones."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from legato.errors import StepTimeout
from legato.runtime.attempt import RunStep, StepOutcome, run_async_step_fn, run_step_fn
from legato.runtime.registry import StepDef

#: called in the step's thread with the tag given at submission and the outcome
Done = Callable[[Any, StepOutcome], None]
#: called in the step's thread with how long an unwatched step's attempt took (seconds)
Observe = Callable[[StepDef, float], None]


class StepPool:
    """Fixed-size pool of daemon threads. An abandoned (timed-out) call gets its thread
    replaced, so a hung step never shrinks the pool; the hung thread exits when it returns."""

    def __init__(self, size: int, name: str = "legato-step",
                 observe: Observe | None = None) -> None:
        self.size = max(1, size)
        self._observe = observe
        self._q: queue.SimpleQueue[RunStep | None] = queue.SimpleQueue()
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        t = threading.Thread(target=self._loop, name=self._name, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _loop(self) -> None:
        q = self._q
        observe = self._observe
        clock = time.perf_counter
        while True:
            run = q.get()
            if run is None:
                return
            assert run.fn is not None and run.done is not None
            began = clock()
            try:
                out = StepOutcome(True, run_step_fn(run.fn, run))
            except BaseException as exc:
                out = StepOutcome(False, error=exc, heartbeat=run.details)
            if observe is not None and not run.sdef.watched:
                observe(run.sdef, clock() - began)
            if run.abandoned:
                return  # a replacement thread was started when this call was abandoned
            run.done(run.tag, out)
            del run, out  # an idle thread keeps no finished step's arguments or result

    def submit(self, fn: Callable[..., Any], run: RunStep, done: Done, tag: Any = None) -> None:
        """Run ``fn`` with the attempt's arguments on a pool thread; ``done(tag, outcome)``
        is called there when it returns or raises."""
        run.fn, run.done, run.tag = fn, done, tag
        self._q.put(run)

    def abandon(self, run: RunStep) -> None:
        run.abandoned = True
        self._spawn()

    def shutdown(self, wait: float = 0.0) -> None:
        """Let every thread end once the queue before it is done; with ``wait``, wait up to
        that many seconds for idle ones to have ended."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._q.put(None)
        end = time.monotonic() + wait
        for t in threads:
            left = end - time.monotonic()
            if left <= 0:
                break
            t.join(left)


class AsyncRunner:
    """One event loop in its own thread, started on first use, for async steps."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                t = threading.Thread(target=loop.run_forever, name="legato-async", daemon=True)
                t.start()
                self._loop, self._thread = loop, t
            return self._loop

    def submit(self, fn: Callable[..., Any], run: RunStep, timeout: float | None, done: Done,
               tag: Any = None) -> Callable[[], None]:
        """Run ``fn`` on the loop; returns a function that cancels it."""
        loop = self._ensure()

        abandoned = False

        async def runner() -> None:
            try:
                coro = run_async_step_fn(fn, run)
                value = await (asyncio.wait_for(coro, timeout) if timeout else coro)
                out = StepOutcome(True, value)
            except asyncio.CancelledError as exc:
                if abandoned:  # legato cancelled it (the hub gave up on the attempt)
                    return
                # raised by the step itself: a failed attempt like any other
                out = StepOutcome(False, error=exc, heartbeat=run.details)
            except TimeoutError as exc:
                err: BaseException = exc
                if timeout is not None:
                    err = StepTimeout(f"step {getattr(fn, '__qualname__', fn)!r} ran longer"
                                      f" than its timeout of {timeout:g}s")
                out = StepOutcome(False, error=err, heartbeat=run.details)
            except BaseException as exc:
                out = StepOutcome(False, error=exc, heartbeat=run.details)
            done(tag, out)

        fut = asyncio.run_coroutine_threadsafe(runner(), loop)

        def cancel() -> None:
            nonlocal abandoned
            abandoned = True
            loop.call_soon_threadsafe(fut.cancel)

        return cancel

    def shutdown(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
