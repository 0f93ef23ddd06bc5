"""ISO-8601 timestamps as Step Functions reads them (Java's ``OffsetDateTime``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2}(?::\d{2})?)")


def parse_timestamp(text: object) -> tuple[int, int] | None:
    """``(epoch seconds, nanoseconds)`` of an offset date-time, or ``None`` if it is not one.

    The offset is required (``Z`` or ``+01:00``); fractions go down to nanoseconds.
    """
    if not isinstance(text, str):
        return None
    match = _TS.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    frac = match.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    off = match.group(8)
    try:
        if off == "Z":
            tz = UTC
        else:
            sign = -1 if off[0] == "-" else 1
            parts = [int(p) for p in off[1:].split(":")]
            delta = timedelta(hours=parts[0], minutes=parts[1],
                              seconds=parts[2] if len(parts) > 2 else 0)
            if delta > timedelta(hours=18):
                return None
            tz = timezone(sign * delta)
        moment = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    return int(moment.timestamp()), nanos


def to_seconds(ts: tuple[int, int]) -> float:
    return ts[0] + ts[1] / 1e9


def iso(epoch: float) -> str:
    """``2024-05-01T12:00:00.123Z``: how Step Functions prints its own timestamps."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
