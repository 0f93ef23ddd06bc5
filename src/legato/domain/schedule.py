"""Cron schedules: the declaration and the pure tick arithmetic (via croniter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from legato.domain import inputs
from legato.errors import InvalidInput, InvalidValue

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
        """Checked against the input contract (docs/inputs.md): a bad value raises
        :class:`legato.InvalidInput` (also a ``ValueError``) naming the schedule."""
        label = self.cron if self.name is None else self.name
        try:
            inputs.optional_text(self.name, "a Schedule's name")
            validate(self.cron, self.timezone, self.catch_up)
            check_args(self.args, "args")
        except InvalidInput as exc:
            raise inputs.declared(InvalidInput(f"schedule {label!r}: {exc}")) from None


#: when a cron must fire at least once after (2000-01-01, and now): croniter looks this
#: many years ahead (Feb 29 on a Monday recurs within 28 years, or 40 across 2100)
_LOOK_AHEAD_YEARS: Final = 50


def validate(cron: str, timezone: str, catch_up: str) -> None:
    """A cron expression that fires, a known timezone and a ``catch_up`` policy; else
    :class:`legato.InvalidInput` (also a ``ValueError``)."""
    from croniter import CroniterError, croniter  # here: most programs schedule nothing

    try:
        inputs.text(cron, "the cron expression")
        inputs.text(timezone, "the timezone")
    except InvalidInput as exc:
        raise inputs.declared(exc) from None
    if not croniter.is_valid(cron):
        raise InvalidValue(f"{cron!r} is not a valid cron expression (e.g. '0 9 * * MON-FRI')")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidValue(f"unknown timezone {timezone!r} (e.g. 'Europe/Paris')") from None
    if not isinstance(catch_up, str) or catch_up not in CATCH_UP:
        raise InvalidValue(f"catch_up must be one of {', '.join(CATCH_UP)}, not {catch_up!r}")
    # a valid expression may name a date that never comes (0 0 31 2 *: February 31st):
    # asked for its next tick, croniter then fails, and a worker carrying it could not start
    for start in (datetime(2000, 1, 1, tzinfo=zone), datetime.now(zone)):
        try:
            croniter(cron, start, max_years_between_matches=_LOOK_AHEAD_YEARS
                     ).get_next(datetime)
        except (CroniterError, ValueError, OverflowError):
            raise InvalidValue(f"{cron!r} never fires (no such date comes within"
                               f" {_LOOK_AHEAD_YEARS} years)") from None


def check_args(args: Any, what: str, limit: int = inputs.DEFAULT_MAX_PAYLOAD) -> list[Any]:
    """A schedule's positional arguments: a list or tuple of strict JSON values."""
    if not isinstance(args, list | tuple):
        raise InvalidInput(f"{what} must be a list or tuple of the workflow's positional"
                           f" arguments, not {type(args).__name__}")
    inputs.encode(list(args), what, limit=limit, max_depth=inputs.MAX_DEPTH)
    return list(args)


def next_tick(cron: str, timezone: str, after: float) -> float:
    """The first tick strictly after ``after`` (epoch seconds).

    When clocks go back (daylight saving time ends) an hour of local time happens twice. A
    schedule at a fixed hour fires once, in the first of the two (``30 2 * * *`` runs once
    that night, as cron does); one whose hour is ``*`` fires in both, since each is an hour
    of real time.
    """
    from croniter import croniter

    zone = ZoneInfo(timezone)
    it = croniter(cron, datetime.fromtimestamp(after, zone))
    fixed_hour = _fixed_hour(cron)
    while True:
        tick = it.get_next(datetime).astimezone(UTC).timestamp()
        if not (fixed_hour and datetime.fromtimestamp(tick, zone).fold):
            return tick


def _fixed_hour(cron: str) -> bool:
    fields = cron.split()
    if fields and fields[0].startswith("@"):
        return fields[0].lower() != "@hourly"
    return len(fields) >= 2 and fields[1] != "*"


def due_ticks(cron: str, timezone: str, catch_up: str, first_due: float,
              now: float) -> tuple[list[float], float]:
    """Ticks to run now, given the first tick not yet handled (``first_due``), and the next
    tick to wait for. Missed ticks follow ``catch_up``."""
    ticks: list[float] = []
    t = first_due
    while t <= now and len(ticks) < MAX_CATCH_UP:
        ticks.append(t)
        t = next_tick(cron, timezone, t)
    if t <= now:  # more than MAX_CATCH_UP missed: skip ahead at once, not tick by tick
        t = next_tick(cron, timezone, now)
    if catch_up == "all" or not ticks:
        return ticks, t
    if catch_up == "once":
        return ticks[-1:], t
    return [x for x in ticks[-1:] if now - x <= ON_TIME], t  # skip: only an on-time tick
