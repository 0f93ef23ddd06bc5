"""``engine.schedules``: durable cron schedules managed at run time."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from legato.domain import inputs
from legato.domain.actor import Actor, actor_of
from legato.domain.schedule import check_args, next_tick, validate
from legato.domain.times import iso
from legato.errors import InvalidInput, NotFound, UnknownWorkflow
from legato.runtime.registry import workflow_def
from legato.store.base import ScheduleRow
from legato.worker.scheduler import run_id

if TYPE_CHECKING:
    from legato.engine import Engine
    from legato.handle import WorkflowHandle

#: what an operator log entry of a schedule's definition holds
_DEFINITION = ("workflow", "cron", "timezone", "catch_up", "args")


class ScheduleBook:
    """Create, pause, resume and list cron schedules; each tick runs exactly once across
    all workers, as a workflow whose id derives from the tick (``name@2026-11-30T09:00:00Z``).

    >>> engine.schedules.create("nightly", cleanup, "0 3 * * *", timezone="Europe/Paris")
    >>> engine.schedules.trigger("nightly", actor="alice")  # one run now, ticks unchanged

    Every change is recorded in the operator log with its ``actor`` (``engine.operator_log``),
    once it took effect.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, workflow: Callable[..., Any] | str, cron: str, *,
               timezone: str = "UTC", catch_up: str = "once",
               args: Sequence[Any] = (), actor: Actor | str | None = None) -> dict[str, Any]:
        """Create (or update) the schedule ``name``. Every value is checked first
        (docs/inputs.md): :class:`legato.InvalidInput` names the schedule, also for a cron
        that never fires (``0 0 31 2 *``)."""
        name = inputs.text(name, "schedule name")
        who = actor_of(actor)
        if isinstance(workflow, str):
            wname = inputs.text(workflow, "workflow name")
            if self._engine.registry.find(wname) is None and \
                    wname not in self._engine.store.known_names():
                raise UnknownWorkflow(wname, self._engine.registry.names())
        else:
            wdef = workflow_def(workflow)
            if wdef is None:
                raise UnknownWorkflow(repr(workflow))
            wname = wdef.name
        try:
            validate(cron, timezone, catch_up)
            values = check_args(args, "args", self._engine.max_payload)
        except InvalidInput as exc:
            raise InvalidInput(f"schedule {name!r}: {exc}") from None
        now = self._engine.clock.now()
        row = ScheduleRow(name=name, workflow=wname, cron=cron, timezone=timezone,
                          catch_up=catch_up, args=values, paused=False,
                          next_tick=next_tick(cron, timezone, now))
        before = self._engine.store.get_schedule(name)
        stored = self._engine.store.put_schedule(row, now)
        self._engine.poke_scheduler()
        shown = _describe(stored)
        definition = {k: shown[k] for k in _DEFINITION}
        if before is None or {k: _describe(before)[k] for k in _DEFINITION} != definition:
            self._engine.operator_log.record(
                "schedule.create" if before is None else "schedule.update", name, actor=who,
                data=definition)
        return shown

    def get(self, name: str) -> dict[str, Any]:
        row = self._engine.store.get_schedule(inputs.ref(name, "schedule name"))
        if row is None:
            raise NotFound(f"no schedule named {name!r}")
        return _describe(row)

    def list(self) -> builtins.list[dict[str, Any]]:
        return [_describe(r) for r in self._engine.store.list_schedules()]

    def pause(self, name: str, *, actor: Actor | str | None = None) -> None:
        """No runs while paused (ticks that pass are not caught up)."""
        name = inputs.ref(name, "schedule name")
        who = actor_of(actor)
        row = self._engine.store.get_schedule(name)
        if row is None or not self._engine.store.set_schedule_paused(
                name, True, None, self._engine.clock.now()):
            raise NotFound(f"no schedule named {name!r}")
        if not row.paused:
            self._engine.operator_log.record("schedule.pause", name, actor=who)

    def resume(self, name: str, *, actor: Actor | str | None = None) -> None:
        """Run again from the next tick after now."""
        name = inputs.ref(name, "schedule name")
        who = actor_of(actor)
        row = self._engine.store.get_schedule(name)
        if row is None:
            raise NotFound(f"no schedule named {name!r}")
        now = self._engine.clock.now()
        try:
            tick = next_tick(row.cron, row.timezone, now)
        except (ValueError, KeyError) as exc:  # stored before crons were checked: never fires
            raise InvalidInput(f"schedule {name!r}: its cron {row.cron!r} cannot run"
                               f" ({type(exc).__name__}: {exc}); create it again") from None
        self._engine.store.set_schedule_paused(name, False, tick, now)
        self._engine.poke_scheduler()
        if row.paused:
            self._engine.operator_log.record("schedule.resume", name, actor=who,
                                             data={"next_tick": tick})

    def delete(self, name: str, *, actor: Actor | str | None = None) -> None:
        name = inputs.ref(name, "schedule name")
        who = actor_of(actor)
        if not self._engine.store.delete_schedule(name):
            raise NotFound(f"no schedule named {name!r}")
        self._engine.operator_log.record("schedule.delete", name, actor=who)

    def trigger(self, name: str, *, actor: Actor | str | None = None) -> WorkflowHandle:
        """Start the schedule's workflow now with its args, as a tick would, whether it is
        paused or not; its next tick stays as it was. Each trigger is a run of its own,
        ``<name>@<now, UTC>-trigger-<random>``. Raises :class:`legato.NotFound` for an
        unknown schedule."""
        name = inputs.ref(name, "schedule name")
        who = actor_of(actor)
        row = self._engine.store.get_schedule(name)
        if row is None:
            raise NotFound(f"no schedule named {name!r}")
        wid = f"{run_id(name, self._engine.clock.now())}-trigger-{secrets.token_hex(4)}"
        handle = self._engine.start(row.workflow, *row.args, workflow_id=wid, actor=who)
        self._engine.operator_log.record("schedule.trigger", name, actor=who, data={
            "workflow_id": wid, "workflow": row.workflow})
        return handle


def _describe(r: ScheduleRow) -> dict[str, Any]:
    return {"name": r.name, "workflow": r.workflow, "cron": r.cron, "timezone": r.timezone,
            "catch_up": r.catch_up, "args": r.args, "paused": r.paused,
            "next_tick": iso(r.next_tick), "last_tick": iso(r.last_tick)}
