"""Queues: flow control shared by every worker (declared in code, stored)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

_lock = threading.Lock()
QUEUES: dict[str, Queue] = {}


@dataclass(frozen=True)
class Queue:
    """Limits for the workflows started on a queue, enforced across all workers.

    >>> emails = legato.Queue("emails", concurrency=10, rate=(100, 60), per_key_concurrency=1)
    >>> @legato.workflow(queue="emails")
    ... def send_newsletter(ctx, customer_id: str) -> None: ...
    >>> engine.start(send_newsletter, "c-1", queue_key="c-1", priority=5)

    ``concurrency``: at most this many of the queue's workflows started and not yet ended;
    ``rate=(n, seconds)``: at most n starts per that many seconds; ``per_key_concurrency``:
    at most this many at once per ``queue_key``. Higher priority first, FIFO within one.
    """

    name: str
    concurrency: int | None = None
    rate: tuple[int, float] | None = None
    per_key_concurrency: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a Queue needs a name")
        for what, v in (("concurrency", self.concurrency),
                        ("per_key_concurrency", self.per_key_concurrency)):
            if v is not None and v < 1:
                raise ValueError(f"Queue {self.name!r}: {what} must be >= 1")
        if self.rate is not None:
            n, period = self.rate
            if n < 1 or period <= 0:
                raise ValueError(f"Queue {self.name!r}: rate must be (n >= 1, seconds > 0)")
        with _lock:
            QUEUES[self.name] = self


def admit(candidates: Iterable[tuple[str, str | None]], slots: int, per_key: int | None,
          busy: dict[str, int]) -> list[str]:
    """Which queued runs start now: in candidate order (priority, then FIFO), at most
    ``slots`` of them, and no ``queue_key`` above ``per_key`` runs (``busy`` counts the
    ones running already; it is updated)."""
    admitted: list[str] = []
    for wid, key in candidates:
        if len(admitted) >= slots:
            break
        if per_key is not None and key is not None:
            if busy.get(key, 0) >= per_key:
                continue
            busy[key] = busy.get(key, 0) + 1
        admitted.append(wid)
    return admitted
