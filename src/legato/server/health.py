"""``/healthz`` (the process is up) and ``/readyz`` (it can serve: the store answers, its
schema is current, and the workers run when this server was asked to run them)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from legato.server.models import Health

router = APIRouter(tags=["health"])

#: a store that has not answered within this many seconds is unready
STORE_TIMEOUT = 2.0


@router.get("/healthz", response_model=Health)
def healthz() -> Any:
    return {"status": "ok"}


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> Any:
    state = request.app.state
    engine = state.engine
    checks: dict[str, str] = {}
    ready = True
    try:
        with anyio.fail_after(STORE_TIMEOUT):
            info = await anyio.to_thread.run_sync(engine.store.schema_info,
                                                  abandon_on_cancel=True)
        checks["store"] = "ok"
        if info.state in ("current", "newer"):
            checks["schema"] = "ok"
        else:
            checks["schema"] = f"{info.state}: run legato db migrate"
            ready = False
    except TimeoutError:
        checks["store"] = f"no answer within {STORE_TIMEOUT:g}s"
        ready = False
    except Exception as exc:
        checks["store"] = f"unreachable: {type(exc).__name__}: {str(exc)[:200]}"
        ready = False
    if state.settings.workers:
        if engine.healthy:
            checks["workers"] = "ok"
        else:
            checks["workers"] = "not running"
            ready = False
    if state.stopping.is_set():
        checks["server"] = "stopping"
        ready = False
    body = {"status": "ready" if ready else "unready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


__all__ = ["router"]
