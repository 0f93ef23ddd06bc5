"""Circuit breakers shared through the store: admission and outcome, with optimistic
concurrency so every worker sees (and changes) one state per breaker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from legato.clock import Clock
from legato.domain.circuit import CircuitBreaker, CircuitState, admit, record, reset
from legato.domain.retry import RetryPolicy
from legato.errors import CircuitOpen, LegatoError
from legato.store.base import Store

log = logging.getLogger("legato.circuits")
#: a breaker opening or closing, one line each (the operator's view of a dependency)
ops = logging.getLogger("legato.worker.circuits")


def _changed(old: CircuitState, new: CircuitState) -> None:
    """A transition this worker wrote: opened, half open (probing) or closed."""
    if old.state != new.state:
        ops.info("legato: circuit %r is %s (was %s)%s", new.name, new.state, old.state,
                 f": {new.reason}" if new.reason else "")
_RACES = 20


class CircuitWait(Exception):
    """Internal: the breaker is open; the step waits until ``until`` without an attempt."""

    def __init__(self, name: str, until: float) -> None:
        super().__init__(f"circuit {name!r} is open until {until}")
        self.name = name
        self.circuit_wait_until = until  # read by the runtime, which knows no worker types


class CircuitGate:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def admit(self, cb: CircuitBreaker) -> None:
        """Return if the call may go through; raise CircuitWait or CircuitOpen if not."""
        for _ in range(_RACES):
            now = self.clock.now()
            cur = self.store.circuit_load(cb.name) or CircuitState(cb.name)
            verdict, new = admit(cur, cb, now)
            if new is not None and not self.store.circuit_save(new, cur.version, now,
                                                               cur.state):
                continue  # another worker changed it first: decide again
            if new is not None:
                _changed(cur, new)
            if verdict == "call":
                return
            if cur.state == "HALF_OPEN":  # probes are out: look again shortly
                until = now + min(cb.reset_timeout, 1.0)
            else:
                until = max(cur.next_probe_at or now, now + 0.05)
            if verdict == "reject":
                raise CircuitOpen(cb.name, until)
            raise CircuitWait(cb.name, until)
        raise CircuitOpen(cb.name, self.clock.now() + 1.0)  # pragma: no cover - contention

    def record(self, cb: CircuitBreaker, ok: bool) -> None:
        for _ in range(_RACES):
            now = self.clock.now()
            cur = self.store.circuit_load(cb.name) or CircuitState(cb.name)
            new = record(cur, cb, ok, now)
            if new is None:
                return
            if self.store.circuit_save(new, cur.version, now, cur.state):
                _changed(cur, new)
                return
        log.warning("legato: could not record an outcome on circuit %r (contention)", cb.name)

    def reset(self, name: str, reason: str) -> tuple[CircuitState, bool] | None:
        """Close the breaker ``name`` for every worker (:func:`legato.domain.circuit.reset`);
        returns the state it had and whether it changed, None if no breaker has that name."""
        for _ in range(_RACES):
            cur = self.store.circuit_load(name)
            if cur is None:
                return None
            new = reset(cur, reason)
            if new is None:
                return cur, False
            if self.store.circuit_save(new, cur.version, self.clock.now(), cur.state):
                _changed(cur, new)
                return cur, True
        raise LegatoError(f"circuit {name!r} is changing too fast to reset; try again")


def counts_as_failure(error: BaseException, policy: RetryPolicy) -> bool:
    """Errors the dependency is to blame for: not the step's non-retryable ones."""
    return isinstance(error, Exception) and not (
        policy.non_retryable and isinstance(error, policy.non_retryable))


def guard_sync(gate: CircuitGate, cb: CircuitBreaker, policy: RetryPolicy,
               fn: Callable[..., Any], abandoned: Callable[[], bool]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        gate.admit(cb)
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:
            if not abandoned() and counts_as_failure(exc, policy):
                gate.record(cb, False)
            raise
        if not abandoned():
            gate.record(cb, True)
        return value

    return guarded


def guard_async(gate: CircuitGate, cb: CircuitBreaker, policy: RetryPolicy,
                fn: Callable[..., Any]) -> Callable[..., Any]:
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        await asyncio.to_thread(gate.admit, cb)
        try:
            value = await fn(*args, **kwargs)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if counts_as_failure(exc, policy):
                await asyncio.to_thread(gate.record, cb, False)
            raise
        await asyncio.to_thread(gate.record, cb, True)
        return value

    return guarded
