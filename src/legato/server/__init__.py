"""legato's HTTP API server (``legato server``): the API v1 under ``/api/v1`` over one
engine, with bearer tokens and roles. Needs the ``server`` extra (FastAPI and uvicorn)."""

from legato.server.app import API, ServerSettings, create_app

__all__ = ["API", "ServerSettings", "create_app"]
