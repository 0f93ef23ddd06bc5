"""``/api/v1/schedules``, ``/queues``, ``/circuits`` and ``/definitions``."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from legato import asl
from legato.server.auth import Principal, needs
from legato.server.models import Definition, Row, Workflow

router = APIRouter()

Viewer = Annotated[Principal, Depends(needs("viewer"))]
Operator = Annotated[Principal, Depends(needs("operator"))]
Admin = Annotated[Principal, Depends(needs("admin"))]


def _engine(request: Request) -> Any:
    return request.app.state.engine


@router.get("/schedules", response_model=list[Row],
             response_model_exclude_unset=True, tags=["schedules"])
def schedules(request: Request, who: Viewer) -> Any:
    """Every cron schedule, with its next and last tick."""
    return _engine(request).schedules.list()


@router.post("/schedules/{name}/pause", response_model=Row,
             response_model_exclude_unset=True, tags=["schedules"])
def pause(name: str, request: Request, who: Operator) -> Any:
    """No runs while paused (ticks that pass are not caught up)."""
    s = _engine(request).schedules
    s.pause(name, actor=who.actor)
    return s.get(name)


@router.post("/schedules/{name}/resume", response_model=Row,
             response_model_exclude_unset=True, tags=["schedules"])
def resume(name: str, request: Request, who: Operator) -> Any:
    """Run again from the next tick after now."""
    s = _engine(request).schedules
    s.resume(name, actor=who.actor)
    return s.get(name)


@router.post("/schedules/{name}/trigger", status_code=201, response_model=Workflow,
             response_model_exclude_unset=True,
             tags=["schedules"])
def trigger(name: str, request: Request, who: Operator) -> Any:
    """Start the schedule's workflow now, as a tick would (the next tick stays)."""
    return _engine(request).schedules.trigger(name, actor=who.actor).describe()


@router.get("/queues", response_model=list[Row],
             response_model_exclude_unset=True, tags=["queues"])
def queues(request: Request, who: Viewer) -> Any:
    """Each queue's limits, depth, running runs and recent throughput."""
    return _engine(request).queues()


@router.get("/circuits", response_model=list[Row],
             response_model_exclude_unset=True, tags=["circuits"])
def circuits(request: Request, who: Viewer) -> Any:
    """Every circuit breaker shared by the workers: state, failures, next probe."""
    return _engine(request).circuits()


@router.post("/circuits/{name}/reset", response_model=Row,
             response_model_exclude_unset=True, tags=["circuits"])
def reset(name: str, request: Request, who: Admin) -> Any:
    """Close the circuit breaker now (failures forgotten), for every worker."""
    engine = _engine(request)
    engine.reset_circuit(name, actor=who.actor)
    return next(c for c in engine.circuits() if c["name"] == name)


@router.get("/definitions", response_model=list[Definition],
             response_model_exclude_unset=True, tags=["definitions"])
def definitions(request: Request, who: Viewer) -> Any:
    """The workflows and state machines this server's modules registered, with their
    parameters."""
    registry = _engine(request).registry
    return [describe_definition(registry.find(name)) for name in sorted(registry.names())]


def describe_definition(wdef: Any) -> dict[str, Any]:
    machine = asl.registered(wdef.name)
    if machine is not None:
        return {"name": wdef.name, "kind": "state_machine",
                "parameters": [{"name": "input", "required": False, "type": "JSON"}],
                "comment": machine.comment, "start_at": machine.start_at,
                "states": list(machine.states), "definition": dict(machine.definition),
                "deadline": wdef.deadline, "queue": wdef.queue}
    doc = inspect.getdoc(wdef.fn) or ""
    return {"name": wdef.name, "kind": "workflow", "parameters": _parameters(wdef.fn),
            "description": doc.split("\n\n")[0].strip() or None,
            "is_async": wdef.is_async, "deadline": wdef.deadline, "queue": wdef.queue,
            "module": getattr(wdef.fn, "__module__", None)}


def _parameters(fn: Any) -> list[dict[str, Any]]:
    """The workflow's parameters after its context: name, type as written, default."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    params = list(sig.parameters.values())[1:]  # the first is the WorkflowContext
    out = []
    for p in params:
        entry: dict[str, Any] = {"name": p.name, "required": p.default is p.empty
                                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD),
                                 "kind": p.kind.name.lower()}
        if p.annotation is not p.empty:
            entry["type"] = p.annotation if isinstance(p.annotation, str) else \
                getattr(p.annotation, "__name__", str(p.annotation))
        if p.default is not p.empty and isinstance(p.default, str | int | float | bool |
                                                       type(None)):
            entry["default"] = p.default
        out.append(entry)
    return out


__all__ = ["describe_definition", "router"]
