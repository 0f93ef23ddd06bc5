"""Parallel branches and Map iterations (inline and distributed), for the interpreter.

Branches and iterations run through ``executor.branches``: in memory on forked virtual
clocks, durably as concurrent branches of the workflow (``ctx.branches``). A Parallel state
or inline Map fails with its first failing branch's error; a distributed Map tolerates
``ToleratedFailureCount`` / ``ToleratedFailurePercentage`` failed items, then fails with
``States.ExceedToleratedFailureThreshold``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import ChainMap
from typing import TYPE_CHECKING, Any

from legato.asl import errors
from legato.asl import model as m
from legato.asl.errors import StatesFailure
from legato.asl.evaluate import Frame, compact, runtime, size
from legato.asl.executor import BranchAborted, BranchResult, Executor, Job
from legato.asl.item_reader import read_items
from legato.asl.jsonpath import JsonPath, PathNotFound

if TYPE_CHECKING:
    from legato.asl.interpreter import Interpreter


def _first_failure(results: list[BranchResult]) -> StatesFailure | None:
    failed = [(r.ended_at, i, r.failure) for i, r in enumerate(results) if r.failure]
    if not failed:
        return None
    return min(failed, key=lambda t: (t[0], t[1]))[2]


def parallel_body(interp: Interpreter, state: m.ParallelState, value: Any, frame: Frame
                  ) -> list[Any]:
    ex = frame.executor
    ex.record("ParallelStateStarted")
    scope = frame.variables

    def job(branch: m.Machine) -> Job:
        def run(child: Executor) -> Any:
            return interp.run_machine(branch, copy.deepcopy(value), scope.new_child(), child)
        return run

    results = ex.branches([job(b) for b in state.branches], 0, fail_fast=True,
                          isolated=False, interleaved=True)
    failure = _first_failure(results)
    if failure is not None or any(r.aborted for r in results):
        if failure is None:
            raise BranchAborted()
        raise _state_failed(StatesFailure(failure.error, failure.cause), "Parallel")
    return [r.value for r in results]


def _state_failed(f: StatesFailure, kind: str) -> StatesFailure:
    f.state_failed = f"{kind}StateFailed"
    return f


# --- Map -----------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _items(state: m.MapState, value: Any, frame: Frame) -> list[Any]:
    if state.jsonata and isinstance(state.items, m.TJsonata):
        items = frame.node(state.items, None)
        if not isinstance(items, list):
            raise StatesFailure(
                errors.QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{state.items.expression}' specified for the field "
                f"'Items' returned an unexpected result type. Expected 'array', but was "
                f"'{_type_name(items)}' for value: {compact(items)}",
                event="EvaluationFailed", locate=True)
        return items
    if state.items is not None:
        items = frame.node(state.items, None)
    elif state.items_path is not None:
        items = frame.io_path(state.items_path, value)
    else:
        items = value
    if not isinstance(items, list):
        message = f"Map state input must be an array but was: {compact(items)}"
        if state.jsonata:
            raise StatesFailure(errors.QUERY_EVALUATION_ERROR, message,
                                event="EvaluationFailed", locate=True)
        raise runtime(message)
    return items


def _integer(node: m.Node | None, path: JsonPath | None, data: Any, frame: Frame, name: str,
             *, number: bool = False) -> float | None:
    if node is not None:
        v = frame.node(node, data)
    elif path is not None:
        try:
            v = frame.lookup(path, data)
        except PathNotFound as exc:
            raise runtime(f"Invalid path '{path.text}' : {exc}") from None
    else:
        return None
    if isinstance(v, str):
        try:
            v = float(v) if number else int(v)
        except ValueError:
            pass
    if isinstance(v, float) and v.is_integer() and not number:
        v = int(v)
    valid = (isinstance(v, int | float) if number else isinstance(v, int)) \
        and not isinstance(v, bool) and v >= 0
    if not valid:
        shown = v if isinstance(v, str) else compact(v)
        what = "number" if number else "integer"
        if path is not None:
            raise runtime(f"The {name}Path field refers to value \"{shown}\" which is not a "
                          f"valid {what}: {path.text}")
        raise StatesFailure(errors.QUERY_EVALUATION_ERROR,
                            f"The {name} field must be a non-negative {what}, not {shown}",
                            event="EvaluationFailed", locate=True)
    return float(v)


def _batches(state: m.MapState, inputs: list[Any], value: Any, frame: Frame) -> list[Any]:
    batcher = state.item_batcher
    assert batcher is not None
    max_items = _integer(batcher.max_items, batcher.max_items_path, value, frame,
                         "MaxItemsPerBatch")
    max_bytes = _integer(batcher.max_bytes, batcher.max_bytes_path, value, frame,
                         "MaxInputBytesPerBatch")
    extra = None if batcher.batch_input is None else frame.node(batcher.batch_input, value)
    batches: list[list[Any]] = []
    current: list[Any] = []
    for item in inputs:
        candidate = [*current, item]
        too_many = max_items is not None and len(candidate) > max_items
        too_big = max_bytes is not None and size(candidate) > max_bytes
        if current and (too_many or too_big):
            batches.append(current)
            candidate = [item]
        current = candidate
    if current:
        batches.append(current)
    out = []
    for batch in batches:
        entry: dict[str, Any] = {}
        if extra is not None:
            entry["BatchInput"] = extra
        entry["Items"] = batch
        out.append(entry)
    return out


def map_body(interp: Interpreter, state: m.MapState, value: Any, frame: Frame) -> list[Any]:
    ex = frame.executor
    try:
        reader = state.item_reader
        if reader is not None:
            most = _integer(reader.max_items, reader.max_items_path, value, frame, "MaxItems")
            items = read_items(reader, state.name, value, frame, most)
        else:
            items = _items(state, value, frame)
    except StatesFailure as f:
        if f.event is not None:
            interp.located(f, frame)
            _state_failed(f, "Map")
        raise
    concurrency = _integer(state.max_concurrency, state.max_concurrency_path, value, frame,
                           "MaxConcurrency") or 0
    ex.record("MapStateStarted", {"length": len(items)})
    distributed = state.mode == "DISTRIBUTED"
    count = _integer(state.tolerated_failure_count, state.tolerated_failure_count_path, value,
                     frame, "ToleratedFailureCount")
    percent = _integer(state.tolerated_failure_percentage,
                       state.tolerated_failure_percentage_path, value, frame,
                       "ToleratedFailurePercentage", number=True)
    assert state.processor is not None
    processor = state.processor
    selector_data = None if state.jsonata else value

    def select(i: int, item: Any, executor: Executor) -> Any:
        if state.item_selector is None:
            return item
        sub = dataclasses.replace(frame, map_item=(i, item), executor=executor,
                                  retry_count=None)
        return sub.node(state.item_selector, selector_data)

    inputs: list[Any] = list(items)
    if state.item_batcher is not None:
        inputs = _batches(state, [select(i, x, ex) for i, x in enumerate(items)], value, frame)
    run_arn = ""
    if distributed:
        base = interp.run.machine_arn.replace(":stateMachine:", ":mapRun:")
        run_arn = f"{base}/{state.label or state.name}:{ex.uuid()}"
        ex.record("MapRunStarted", {"mapRunArn": run_arn})
    scope = frame.variables

    def job(i: int, item: Any) -> Job:
        def run(child: Executor) -> Any:
            details = {"name": state.name, "index": i}
            child.record("MapIterationStarted", details)
            try:
                data = item if state.item_batcher is not None else select(i, item, child)
                inner = ChainMap[str, Any]() if distributed else scope.new_child()
                out = interp.run_machine(processor, copy.deepcopy(data), inner, child)
            except StatesFailure:
                child.record("MapIterationFailed", details)
                raise
            except BranchAborted:
                child.record("MapIterationAborted", details)
                raise
            child.record("MapIterationSucceeded", details)
            return out
        return run

    results = ex.branches([job(i, x) for i, x in enumerate(inputs)], int(concurrency),
                          fail_fast=not distributed, isolated=distributed)
    if distributed:
        failed = sum(1 for r in results if not r.ok)
        if count is None and percent is None:
            exceeded = failed > 0
        else:
            exceeded = ((count is not None and failed > count) or
                        (percent is not None and bool(results)
                         and failed * 100.0 / len(results) > percent))
        if exceeded:
            cause = "The specified tolerated failure threshold was exceeded"
            ex.record("MapRunFailed", {"error": errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                       "cause": cause})
            raise _state_failed(StatesFailure(errors.EXCEED_TOLERATED_FAILURE_THRESHOLD, cause),
                                "Map")
        ex.record("MapRunSucceeded")
        ex.record("MapStateSucceeded")
        return [r.value if r.ok else (r.failure.output() if r.failure else None)
                for r in results]
    failure = _first_failure(results)
    if failure is not None or any(r.aborted for r in results):
        if failure is None:
            raise BranchAborted()
        raise _state_failed(StatesFailure(failure.error, failure.cause), "Map")
    ex.record("MapStateSucceeded")
    return [r.value for r in results]
