"""The changes feeds of runs (``engine.run_changes``) and human tasks
(``engine.tasks.changes``): which changes to report, and the opaque position a reader passes
back to go on. Pure; the store reads rows in
``(updated_at, id)`` order.

Why not just "``updated_at`` after the last one seen": ``updated_at`` is the writer's clock
when it wrote, and writes commit in another order than their clocks say — a worker's commit
computed at ``t`` may commit after another process's at ``t + 0.01`` was read, and clocks of
two hosts disagree. So every read goes back an overlap window (:data:`OVERLAP` seconds
before the newest change reported) and leaves out what was reported already: the position
carries a short hash of each ``(id, updated_at, status)`` reported within the window
(at most :data:`KEPT` of them: under heavier traffic the window is the last :data:`KEPT`
changes reported, and its start is an exact ``(updated_at, id)``, so that a frozen test
clock, where every change has the same time, still makes progress).

The guarantee: a change is reported if it commits before the next read, or later with an
``updated_at`` no more than the window older than the newest change reported by then; it is
reported once (twice only if two changes' 48-bit hashes collide within one window: then the
second is missed instead, a chance of about one in 10^12 per change).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from legato.errors import InvalidInput

#: seconds before the newest change reported that every read goes back over
OVERLAP = 5.0
#: most changes remembered as reported within the window (bounds the position's size)
KEPT = 100
_HASH = 6  # bytes of each remembered change's hash
_VERSION = 1

#: a changed run: (workflow id, name, status, business key, updated_at); the feed reads a
#: human task as (task id, name, status, workflow id, updated_at)
Change = tuple[str, str, str, str | None, float]
#: a changed human task: (task id, name, status, workflow id, updated_at, assignee, group)
TaskChange = tuple[str, str, str, str, float, str | None, str | None]
Key = tuple[float, str]


def digest(wid: str, updated_at: float, status: str) -> bytes:
    """The short hash that stands for one reported change in a position."""
    return hashlib.blake2b(f"{wid}\x00{updated_at!r}\x00{status}".encode(),
                           digest_size=_HASH).digest()


@dataclass(slots=True)
class Position:
    """Where a reader is: the newest change reported (``high``), where the next read starts
    (``floor``, inclusive) and the changes reported since then (``seen``, hashes in key
    order; their keys are not kept)."""

    high: Key | None = None
    floor: Key | None = None
    seen: list[bytes] = field(default_factory=list)

    def encode(self) -> str:
        head = json.dumps([_VERSION, *(self.high or (None, None)),
                           *(self.floor or (None, None))], separators=(",", ":"))
        raw = head.encode() + b"\x00" + b"".join(self.seen)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: object, what: str = "after") -> Position:
        def bad(why: str) -> InvalidInput:
            return InvalidInput(f"{what}: {text!r:.80} is not a position run_changes gave"
                                f" ({why}); pass the string it returned, or None to start"
                                " from now")

        if not isinstance(text, str) or not text or len(text) > 4096:
            raise bad("a non-empty string of at most 4096 characters is expected")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            head, _, hashes = raw.partition(b"\x00")
            version, h_at, h_id, f_at, f_id = json.loads(head)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise bad("it does not decode") from None
        if version != _VERSION or len(hashes) % _HASH or len(hashes) > KEPT * _HASH:
            raise bad("unknown format")

        def key(at: object, wid: object) -> Key | None:
            if at is None and wid is None:
                return None
            if isinstance(at, bool) or not isinstance(at, int | float) \
                    or not math.isfinite(at) or not isinstance(wid, str):
                raise bad("unknown format")
            return float(at), wid

        return cls(key(h_at, h_id), key(f_at, f_id),
                   [hashes[i:i + _HASH] for i in range(0, len(hashes), _HASH)])


def start(latest: Sequence[Change]) -> Position:
    """The position "now", from the runs updated last (newest first): nothing before it is
    reported, and what commits late within the window still is."""
    if not latest:
        return Position()
    high = (latest[0][4], latest[0][0])
    window = [c for c in latest if c[4] >= high[0] - OVERLAP][:KEPT]
    window.reverse()
    floor = (window[0][4], window[0][0]) if len(window) == KEPT \
        else (high[0] - OVERLAP, "")
    return Position(high, floor, [digest(c[0], c[4], c[2]) for c in window])


def read_size(pos: Position, limit: int) -> int:
    """How many rows to read from ``pos.floor``: enough for ``limit`` unreported ones."""
    return limit + len(pos.seen)


def advance(pos: Position, rows: Sequence[Change], limit: int,
            read: int) -> tuple[list[Change], Position]:
    """The changes to report among ``rows`` (read from ``pos.floor`` in key order, at most
    ``read`` of them) and the position after them."""
    seen = set(pos.seen)
    high = pos.high
    out: list[Change] = []
    known: list[tuple[Key, bytes]] = []  # reported, now or before, as met in this read
    first_left: Key | None = None  # the first unreported row left for the next read
    for c in rows:
        key, h = (c[4], c[0]), digest(c[0], c[4], c[2])
        if high is not None and key <= high and h in seen:
            known.append((key, h))
        elif len(out) < limit:
            out.append(c)
            known.append((key, h))
        elif first_left is None:
            first_left = key
    if out:
        newest = max((c[4], c[0]) for c in out)
        high = newest if high is None or newest > high else high
    if high is None:
        return out, Position()
    last = (rows[-1][4], rows[-1][0]) if rows else None
    covered = len(rows) < read or (last is not None and last >= high)
    met = {h for _, h in known}
    # hashes met in no row read: kept while the read may have stopped short of their rows;
    # else their rows changed again since (or were purged)
    unknown = [] if covered else [h for h in pos.seen if h not in met]
    floor: Key = (high[0] - OVERLAP, "")
    if pos.floor is not None and pos.floor > floor:
        floor = pos.floor  # a window cut short stays cut
    if first_left is not None and first_left < floor:
        floor = first_left  # never past a change not reported yet
    known.sort()
    window = [(k, h) for k, h in known if k >= floor]
    room = KEPT - len(unknown)
    if len(window) > room:  # too many to remember: the window starts later
        cut = window[len(window) - room:] if room > 0 else []
        start_at = cut[0][0] if cut else (window[-1][0][0], window[-1][0][1] + "\x00")
        if first_left is not None and first_left < start_at:
            start_at = first_left  # (then only what was reported before it is forgotten)
            cut = [(k, h) for k, h in window if k >= start_at][-max(room, 0):] if room else []
        floor, window = start_at, cut
    return out, Position(high, floor, [h for _, h in window] + unknown)


__all__ = ["KEPT", "OVERLAP", "Change", "Position", "TaskChange", "advance", "digest", "read_size",
           "start"]
