"""The definitions, schedules, queues and circuits pages, with their actions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from legato import asl
from legato.dashboard import diagram
from legato.dashboard.web import HEADERS, Viewer, action, engine_of, page, redirect, render
from legato.server.ops import describe_definition

router = APIRouter(include_in_schema=False)


@router.get("/definitions")
async def definitions(request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        registry = engine_of(request).registry
        rows = []
        for name in sorted(registry.names()):
            d = describe_definition(registry.find(name))
            machine = asl.registered(name)
            d["svg"] = diagram.state_machine(machine) if machine is not None else None
            rows.append(d)
        return render(request, viewer, "definitions.html", definitions=rows)

    return await page(request, build)


@router.get("/schedules")
async def schedules(request: Request) -> Response:
    return await page(request, lambda viewer: render(
        request, viewer, "schedules.html", schedules=engine_of(request).schedules.list()))


@router.post("/schedules/{name}/{verb}")
async def schedule_action(name: str, verb: str, request: Request) -> Response:
    if verb not in ("pause", "resume", "trigger"):
        return Response("Not Found", status_code=404, headers=HEADERS)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> Response:
        getattr(engine_of(request).schedules, verb)(name, actor=viewer.principal.actor)
        return redirect("/schedules")

    return await action(request, "operator", work)


@router.get("/queues")
async def queues(request: Request) -> Response:
    return await page(request, lambda viewer: render(
        request, viewer, "queues.html", queues=engine_of(request).queues()))


@router.get("/circuits")
async def circuits(request: Request) -> Response:
    return await page(request, lambda viewer: render(
        request, viewer, "circuits.html", circuits=engine_of(request).circuits()))


@router.post("/circuits/{name}/reset")
async def reset(name: str, request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, list[str]]) -> Response:
        engine_of(request).reset_circuit(name, actor=viewer.principal.actor)
        return redirect("/circuits")

    return await action(request, "admin", work)


__all__ = ["router"]
