"""Times as legato shows them: ISO 8601 UTC strings in every dict the API returns, and
durations in words for log lines. Pure."""

from __future__ import annotations

from datetime import UTC, datetime


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
