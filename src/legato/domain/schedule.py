"""Cron schedules: the declaration and the pure tick arithmetic (via croniter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CATCH_UP: Final = ("skip", "once", "all")
#: a tick this close to "now" is on time, not missed (for catch_up="skip")
ON_TIME: Final = 60.0
#: "all" never starts more than this many runs for one catch-up
MAX_CATCH_UP: Final = 1000


@dataclass(frozen=True)
class Schedule:
    """Run a workflow on a cron schedule, durably and exactly once per tick.

    >>> @legato.workflow(schedule=legato.Schedule("0 9 * * MON-FRI", timezone="Europe/Paris"))
    ... def morning_report(ctx: legato.WorkflowContext) -> None: ...

    ``catch_up`` says what happens to ticks missed while no worker ran: ``"skip"`` them,
    run ``"once"`` for all of them, or run ``"all"`` of them. ``args`` are the workflow's
    positional arguments. Daylight-saving transitions follow the timezone's rules.
    """

    cron: str
    timezone: str = "UTC"
    catch_up: str = "once"
    args: tuple[Any, ...] = field(default=())
    name: str | None = None

    def __post_init__(self) -> None:
        validate(self.cron, self.timezone, self.catch_up)


def validate(cron: str, timezone: str, catch_up: str) -> None:
    from croniter import croniter  # here, not at import: most programs schedule nothing

    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ValueError(f"{cron!r} is not a valid cron expression (e.g. '0 9 * * MON-FRI')")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {timezone!r} (e.g. 'Europe/Paris')") from None
    if catch_up not in CATCH_UP:
        raise ValueError(f"catch_up must be one of {', '.join(CATCH_UP)}, not {catch_up!r}")


def next_tick(cron: str, timezone: str, after: float) -> float:
    """The first tick strictly after ``after`` (epoch seconds)."""
    from croniter import croniter

    base = datetime.fromtimestamp(after, ZoneInfo(timezone))
    nxt: datetime = croniter(cron, base).get_next(datetime)
    return nxt.astimezone(UTC).timestamp()


def due_ticks(cron: str, timezone: str, catch_up: str, first_due: float,
              now: float) -> tuple[list[float], float]:
    """Ticks to run now, given the first tick not yet handled (``first_due``), and the next
    tick to wait for. Missed ticks follow ``catch_up``."""
    ticks: list[float] = []
    t = first_due
    while t <= now and len(ticks) < MAX_CATCH_UP:
        ticks.append(t)
        t = next_tick(cron, timezone, t)
    while t <= now:  # more than MAX_CATCH_UP missed: skip ahead
        t = next_tick(cron, timezone, t)
    if catch_up == "all" or not ticks:
        return ticks, t
    if catch_up == "once":
        return ticks[-1:], t
    return [x for x in ticks[-1:] if now - x <= ON_TIME], t  # skip: only an on-time tick
