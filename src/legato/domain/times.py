"""Times as legato shows them: ISO 8601 UTC strings in every dict the API returns, and
durations in words for log lines; and the one rule for a time a caller gives (:func:`instant`).
Pure."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from legato.errors import InvalidInput


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string (``2027-01-15T08:00:00+00:00``; microseconds
    when there are any), as ``handle.describe()`` gives them; None stays None.

    >>> iso(1_800_000_000.5)
    '2027-01-15T08:00:00.500000+00:00'
    """
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def span(secs: float) -> str:
    """A duration for people: ``1d 2h 3m 4s``, zero parts left out, whole seconds (under a
    second: ``0.25s``).

    >>> span(90), span(86400 + 5), span(0.25)
    ('1m 30s', '1d 5s', '0.25s')
    """
    if secs < 1:
        return f"{max(secs, 0.0):.2g}s"
    left = round(secs)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, left = divmod(left, size)
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts)


def instant(value: Any, what: str) -> float | None:
    """A point in time: an aware ``datetime``, an ISO 8601 string with its offset (``Z``,
    ``+01:00``) or epoch seconds (a number, or a string of one); None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(f"{what}: {value.isoformat()} has no time zone (no UTC offset);"
                               " give an aware datetime (tzinfo=datetime.UTC)")
        return value.timestamp()
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a datetime, an ISO 8601 time or epoch seconds,"
                           f" not {value!r}")
    if isinstance(value, int | float):
        secs = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            secs = float(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                raise InvalidInput(f"{what}: {value!r:.80} is not an ISO 8601 time (e.g."
                                   " 2027-01-15T08:00:00Z) nor epoch seconds") from None
            if when.tzinfo is None:
                raise InvalidInput(f"{what}: {value!r:.80} has no offset; add one (Z for"
                                   " UTC, or e.g. +01:00)") from None
            return when.timestamp()
    else:
        raise InvalidInput(f"{what} must be a datetime, an ISO 8601 time or epoch seconds,"
                           f" not {type(value).__name__}")
    if not math.isfinite(secs):
        raise InvalidInput(f"{what} must be a finite time, not {value!r}")
    return secs
