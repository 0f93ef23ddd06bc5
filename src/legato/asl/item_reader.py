"""A Map's ``ItemReader``: its items read through a handler instead of from the state input.

legato has no S3 of its own: the handler registered for the reader's ``Resource``
(``arn:aws:states:::s3:getObject`` or ``...:s3:listObjectsV2``, or any resource) is called with
the evaluated ``Parameters``/``Arguments`` like a Task's, as a journaled step when durable.
For ``getObject`` it returns the object's content (text or bytes), parsed by
``ReaderConfig.InputType`` (JSON: an array; JSONL: one value per line; CSV: one object per row,
keyed by the first row or by ``CSVHeaders``); a list it returns is taken as the items. For
``listObjectsV2`` it returns the objects (or the response with their ``Contents``).
``MaxItems(Path)`` keeps the first N. Anything that goes wrong is ``States.ItemReaderFailed``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from legato.asl import errors
from legato.asl import model as m
from legato.asl.errors import StatesFailure
from legato.asl.evaluate import Frame
from legato.asl.executor import TaskRequest
from legato.asl.handlers import classify


def _failed(cause: str) -> StatesFailure:
    return StatesFailure(errors.ITEM_READER_FAILED, cause, locate=True)


def read_items(reader: m.ItemReader, state_name: str, value: Any, frame: Frame,
               max_items: float | None) -> list[Any]:
    """The items the reader's handler gives, parsed and cut to ``max_items``."""
    ex = frame.executor
    params = None if reader.parameters is None else frame.node(reader.parameters, value)
    outcome = ex.invoke(TaskRequest(state=state_name, target=classify(reader.resource),
                                    function=None, event=params, timeout=None,
                                    heartbeat=None, token=None, request_id=ex.uuid()))
    if not outcome.ok:
        raise _failed(f"reading items from {reader.resource} failed: {outcome.error}: "
                      f"{outcome.cause}")
    items = _parse(reader, outcome.value)
    return items if max_items is None else items[:int(max_items)]


def _parse(reader: m.ItemReader, got: Any) -> list[Any]:
    if reader.resource.endswith("listObjectsV2"):
        if isinstance(got, dict):
            got = got.get("Contents", [])
        if not isinstance(got, list):
            raise _failed("the listObjectsV2 handler must return a list of objects (or a "
                          "response with Contents)")
        return got
    kind = reader.input_type or "JSON"
    if isinstance(got, list) and kind in ("JSON", "JSONL"):
        return got  # already parsed by the handler
    if isinstance(got, bytes | bytearray):
        try:
            got = got.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _failed(f"the object is not UTF-8 text: {exc}") from None
    if not isinstance(got, str):
        raise _failed(f"the {reader.resource} handler must return the object's content "
                      f"(text or bytes), not {type(got).__name__}")
    if kind == "MANIFEST":
        raise _failed("ReaderConfig.InputType MANIFEST (an S3 Inventory) is not supported")
    try:
        if kind == "JSON":
            items = json.loads(got)
            if not isinstance(items, list):
                raise _failed("the JSON object does not hold an array of items")
            return items
        if kind == "JSONL":
            return [json.loads(line) for line in got.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise _failed(f"the object is not valid {kind}: {exc}") from None
    rows = list(csv.reader(io.StringIO(got), delimiter=reader.delimiter))
    if reader.header_location == "GIVEN":
        headers = list(reader.headers)
    elif rows:
        headers, rows = rows[0], rows[1:]
    else:
        return []
    out = []
    for n, row in enumerate(rows, start=1):
        if len(row) > len(headers):
            raise _failed(f"CSV row {n} has {len(row)} fields but there are {len(headers)} "
                          "headers")
        out.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)})
    return out
