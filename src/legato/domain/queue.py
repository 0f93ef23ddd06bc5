"""Queues: flow control shared by every worker (declared in code, stored)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from legato.domain import inputs
from legato.errors import InvalidInput

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
        """Checked against the input contract (docs/inputs.md): a bad value raises
        :class:`legato.InvalidInput` (also a ``ValueError``) naming it."""
        try:
            inputs.text(self.name, "a Queue's name")
            for what, v in (("concurrency", self.concurrency),
                            ("per_key_concurrency", self.per_key_concurrency)):
                if v is not None:
                    inputs.count(v, f"Queue {self.name!r}: {what}")
            if self.rate is not None:
                rate: Any = self.rate
                if not isinstance(rate, tuple | list) or len(rate) != 2:
                    raise InvalidInput(f"Queue {self.name!r}: rate must be (n, seconds), not"
                                       f" {rate!r}")
                n = inputs.count(rate[0], f"Queue {self.name!r}: rate's n")
                period = inputs.seconds(rate[1], f"Queue {self.name!r}: rate's seconds")
                object.__setattr__(self, "rate", (n, period))
        except InvalidInput as exc:
            raise inputs.declared(exc) from None
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
