"""Queues: concurrency, per-key concurrency, rate, priority (issue #5)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import legato

Make = Callable[..., legato.Engine]


class Gauge:
    """Counts how many steps run at once (per key too) and the highest it got."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def enter(self, key: str) -> None:
        with self.lock:
            for k in (key, "*"):
                self.now[k] = self.now.get(k, 0) + 1
                self.peak[k] = max(self.peak.get(k, 0), self.now[k])

    def leave(self, key: str) -> None:
        with self.lock:
            for k in (key, "*"):
                self.now[k] -= 1


def test_queue_concurrency_is_never_exceeded_across_workers(make_engine: Make,
                                                            unique_name) -> None:
    qname = unique_name("emails")
    legato.Queue(qname, concurrency=3, per_key_concurrency=1)
    gauge = Gauge()

    @legato.step
    def send(customer: str) -> None:
        gauge.enter(customer)
        time.sleep(0.02)
        gauge.leave(customer)

    @legato.workflow(name=unique_name("newsletter"), queue=qname)
    def newsletter(ctx: legato.WorkflowContext, customer: str) -> str:
        send(customer)
        send(customer)
        return customer

    a = make_engine().launch()
    b = make_engine().launch()
    hs = [a.start(newsletter, f"c{i % 6}", queue_key=f"c{i % 6}") for i in range(30)]
    hs += [b.start(newsletter, f"c{i % 6}", queue_key=f"c{i % 6}") for i in range(10)]
    assert sorted(h.result(timeout=60) for h in hs) == sorted(
        [f"c{i % 6}" for i in range(30)] + [f"c{i % 6}" for i in range(10)])
    assert gauge.peak["*"] <= 3
    assert all(v <= 1 for k, v in gauge.peak.items() if k != "*")
    (stats,) = [q for q in a.queues() if q["name"] == qname]
    assert stats["concurrency"] == 3 and stats["depth"] == 0 and stats["running"] == 0
    assert stats["completed_last_minute"] == 40


def test_queue_rate_limit(make_engine: Make, unique_name) -> None:
    qname = unique_name("api")
    legato.Queue(qname, rate=(5, 1.0))
    started: list[float] = []

    @legato.step
    def mark() -> None:
        started.append(time.monotonic())

    @legato.workflow(name=unique_name("limited"), queue=qname)
    def limited(ctx: legato.WorkflowContext) -> None:
        mark()

    engine = make_engine().launch()
    hs = [engine.start(limited) for _ in range(12)]
    for h in hs:
        h.result(timeout=30)
    started.sort()
    for i in range(len(started) - 5):  # any 6 consecutive starts span at least ~1 s
        assert started[i + 5] - started[i] >= 0.9


def test_higher_priority_first_fifo_within(make_engine: Make, unique_name) -> None:
    qname = unique_name("serial")
    legato.Queue(qname, concurrency=1)
    order: list[str] = []
    gate = threading.Event()

    @legato.step
    def work(tag: str) -> None:
        if tag == "first":
            gate.wait(5)
        order.append(tag)

    @legato.workflow(name=unique_name("prio"), queue=qname)
    def job(ctx: legato.WorkflowContext, tag: str) -> None:
        work(tag)

    engine = make_engine().launch()
    first = engine.start(job, "first")
    first.wait_status("RUNNING")
    low1 = engine.start(job, "low1")
    low2 = engine.start(job, "low2")
    high = engine.start(job, "high", priority=5)
    gate.set()
    for h in (first, low1, low2, high):
        h.result(timeout=20)
    assert order == ["first", "high", "low1", "low2"]
