"""Queues: flow control shared by every worker (declared in code, stored)."""

from __future__ import annotations

import threading
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
