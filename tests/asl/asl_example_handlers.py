"""Handlers imported by ``python:`` resources in the ASL tests."""

from __future__ import annotations

from typing import Any


def double(event: Any) -> Any:
    return {"value": event["value"] * 2}
