"""The input contract (docs/inputs.md): every bad input is refused the same clear way on both
stores — one ``legato.InvalidInput`` naming the field, nothing written. One test per defect
the robustness probe found."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import legato
from legato import asl
from legato.domain import inputs
from legato.domain.events import WORKFLOW_STARTED, Event
from legato.domain.tasks import Task
from legato.store.base import NewWorkflow
from legato.store.postgres.conninfo import parse

Make = Callable[..., legato.Engine]
TABLES = ("workflows", "journal", "events", "signals", "tasks", "schedules", "queues")


def rows(url: str) -> dict[str, int]:
    """How many rows each of legato's tables holds (read behind the engine's back)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as c:
            return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    settings = parse(url)
    with psycopg.connect(settings.conninfo) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {settings.quoted_schema}.{t}"
                                ).fetchone()[0]  # type: ignore[index]
                for t in TABLES}


@pytest.fixture
def client(make_engine: Make) -> legato.Engine:
    """A client engine (never launched): records starts, runs nothing."""
    return make_engine()


@pytest.fixture
def noop(unique_name: Callable[[str], str]) -> Callable[..., Any]:
    @legato.workflow(name=unique_name("noop"))
    def noop(ctx: legato.WorkflowContext, *args: Any) -> list[Any]:
        return list(args)

    return noop


def refused(match: str, call: Callable[[], object], url: str) -> legato.InvalidInput:
    """``call`` raises InvalidInput matching ``match`` and writes nothing."""
    before = rows(url)
    with pytest.raises(legato.InvalidInput, match=match) as info:
        call()
    assert rows(url) == before
    return info.value


# --- ids given by users -----------------------------------------------------------------


def test_an_empty_workflow_id_is_refused_not_replaced(client: legato.Engine, db_url: str,
                                                      noop: Any) -> None:
    refused("workflow_id must not be empty", lambda: client.start(noop, workflow_id=""), db_url)
    refused(r"inputs\[1\]: workflow_id must not be empty",
            lambda: client.start_many(noop, [(1,), (2,)], workflow_ids=["a", ""]), db_url)


def test_an_empty_event_id_is_refused_not_replaced(client: legato.Engine, db_url: str) -> None:
    refused("event_id must not be empty", lambda: client.publish("paid", key="k", event_id=""),
            db_url)


def test_cli_start_with_an_empty_id_is_refused(make_engine: Make, db_url: str,
                                               tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(
        "import legato\n\n"
        "@legato.workflow(name='cli_empty_id')\n"
        "def flow(ctx, x):\n    return x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import flows  # noqa: F401  (registers cli_empty_id; the worker records its name)

        make_engine().launch().shutdown()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("flows", None)
        legato.runtime.registry.REGISTRY.remove("cli_empty_id")
    before = rows(db_url)
    done = subprocess.run([sys.executable, "-m", "legato.cli.main", "start", "cli_empty_id",
                           "--input", "1", "--id", "", "--db", db_url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stdout
    assert "workflow_id must not be empty" in done.stderr
    assert rows(db_url) == before


@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "esc\x1b[2J", "c1\x9b", "\ud800"])
def test_nul_and_control_characters_in_ids_keys_and_types_are_refused(
        client: legato.Engine, db_url: str, noop: Any, bad: str) -> None:
    client.start(noop, workflow_id="target")
    base = rows(db_url)
    for what, call in [
        ("workflow_id", lambda: client.start(noop, workflow_id=bad)),
        ("event type", lambda: client.publish(bad)),
        ("key", lambda: client.publish("paid", key=bad)),
        ("event_id", lambda: client.publish("paid", event_id=bad)),
        ("signal name", lambda: client.signal("target", bad)),
        ("workflow_id", lambda: client.signal(bad, "go")),
        ("queue_key", lambda: client.start(noop, queue_key=bad)),
        ("workflow name", lambda: client.start(bad)),
        ("schedule name", lambda: client.schedules.create(bad, noop, "0 9 * * *")),
    ]:
        refused(f"{what} must not contain NUL or control characters", call, db_url)
    assert rows(db_url) == base


def test_ids_are_at_most_255_characters_on_both_stores(client: legato.Engine, db_url: str,
                                                       noop: Any) -> None:
    refused("workflow_id is 256 characters long; at most 255",
            lambda: client.start(noop, workflow_id="x" * 256), db_url)
    refused("event_id is 100000 characters long",
            lambda: client.publish("paid", event_id="e" * 100_000), db_url)
    refused("key is 256 characters", lambda: client.publish("paid", key="k" * 256), db_url)
    longest = client.start(noop, workflow_id="x" * 255)
    assert longest.status == "PENDING"
    assert client.publish("paid", key="k" * 255, event_id="e" * 255).buffered


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["high", 2**70, -(2**31) - 1, 2**31, True, 1.5, None])
def test_priority_is_an_int_in_range_on_both_stores(client: legato.Engine, db_url: str,
                                                    noop: Any, bad: object) -> None:
    refused("priority must be", lambda: client.start(noop, priority=bad), db_url)


def test_priority_bounds_are_accepted_on_both_stores(client: legato.Engine, noop: Any) -> None:
    for p in (inputs.PRIORITY_MIN, inputs.PRIORITY_MAX):
        h = client.start(noop, workflow_id=f"p{p}", priority=p)
        assert h.describe()["priority"] == p


@pytest.mark.parametrize("ttl", [math.nan, math.inf, -1, 0, "60", timedelta(seconds=-5)])
def test_a_ttl_that_is_not_a_positive_finite_duration_is_refused(
        client: legato.Engine, db_url: str, ttl: object) -> None:
    refused("ttl must be", lambda: client.publish("paid", key="k", ttl=ttl), db_url)


@pytest.mark.parametrize("deadline", [math.nan, math.inf, -1, 0, "1h"])
def test_a_deadline_that_is_not_a_positive_finite_duration_is_refused(
        client: legato.Engine, db_url: str, noop: Any, deadline: object) -> None:
    refused("deadline must be", lambda: client.start(noop, deadline=deadline), db_url)


def test_a_nan_deadline_on_the_decorator_is_refused_when_declared(
        unique_name: Callable[[str], str]) -> None:
    with pytest.raises(legato.RegistrationError, match="workflow deadline must be a finite"):
        @legato.workflow(name=unique_name("nan_deadline"), deadline=math.nan)
        def flow(ctx: legato.WorkflowContext) -> None:
            return None


@pytest.mark.parametrize("options", [
    {"concurrency": "3"}, {"concurrency": 0}, {"per_key_concurrency": 1.5},
    {"rate": (5, math.nan)}, {"rate": (5, math.inf)}, {"rate": (math.nan, 1)},
    {"rate": (0, 1)}, {"rate": 5}, {"concurrency": 2**40},
])
def test_queue_limits_are_checked_when_declared(options: dict[str, Any]) -> None:
    with pytest.raises(legato.InvalidInput, match="Queue 'q_bad'") as info:
        legato.Queue("q_bad", **options)
    assert isinstance(info.value, ValueError)  # as these declarations raised before
    from legato.domain.queue import QUEUES

    assert "q_bad" not in QUEUES


# --- queues ---------------------------------------------------------------------------------


def test_an_unknown_queue_is_refused_at_start(client: legato.Engine, db_url: str, noop: Any,
                                              unique_name: Callable[[str], str]) -> None:
    refused("unknown queue 'nowhere'", lambda: client.start(noop, queue="nowhere"), db_url)

    @legato.workflow(name=unique_name("undeclared"), queue=unique_name("undeclared_q"))
    def undeclared(ctx: legato.WorkflowContext) -> None:
        return None

    refused("unknown queue", lambda: client.start(undeclared), db_url)


def test_a_queue_declared_here_or_in_the_store_is_accepted(
        client: legato.Engine, noop: Any, unique_name: Callable[[str], str]) -> None:
    here = unique_name("here_q")
    legato.Queue(here, concurrency=2)
    assert client.start(noop, queue=here).describe()["queue"] == here
    stored = unique_name("stored_q")  # declared by another process's worker
    client.store.put_queue(stored, 3, None, None, client.clock.now())
    assert client.start(noop, queue=stored).describe()["queue"] == stored


# --- values: strict JSON --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "why"), [
    ({1, 2}, "a set is not JSON"),
    (frozenset({1}), "a frozenset is not JSON"),
    (b"raw", r"binary data \(bytes\) is not JSON"),
    ({"nested": [bytearray(b"x")]}, r"binary data \(bytearray\)"),
    (math.nan, "NaN and Infinity are not JSON"),
    ({"x": [math.inf]}, "NaN and Infinity are not JSON"),
    (-math.inf, "NaN and Infinity are not JSON"),
    ("lone \ud800 surrogate", "lone surrogate"),
    ({"\udfff": 1}, "lone surrogate"),
])
def test_values_are_strict_json(client: legato.Engine, db_url: str, noop: Any, value: object,
                                why: str) -> None:
    client.start(noop, workflow_id="target")
    refused(f"workflow input .*{why}", lambda: client.start(noop, value), db_url)
    refused(f"event data .*{why}", lambda: client.publish("paid", data=value), db_url)
    refused(f"signal data .*{why}", lambda: client.signal("target", "go", value), db_url)


def test_a_set_as_asl_input_is_refused(client: legato.Engine, db_url: str,
                                       unique_name: Callable[[str], str]) -> None:
    name = unique_name("asl_pass")
    asl.register(name, {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    refused("a set is not JSON", lambda: client.start(name, {1, 2}), db_url)


def test_deep_nesting_is_refused_clearly(client: legato.Engine, db_url: str,
                                         noop: Any) -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    refused(f"nested deeper than {inputs.MAX_DEPTH} levels", lambda: client.start(noop, deep),
            db_url)
    refused("nested deeper than", lambda: client.publish("paid", data=deep), db_url)
    just_over: list[Any] = []  # MAX_DEPTH levels, in the list of arguments: one too many
    for _ in range(inputs.MAX_DEPTH - 1):
        just_over = [just_over]
    refused(f"nested deeper than {inputs.MAX_DEPTH} levels \\({inputs.MAX_DEPTH + 1}\\)",
            lambda: client.start(noop, just_over), db_url)
    fits: list[Any] = []
    for _ in range(inputs.MAX_DEPTH - 2):
        fits = [fits]
    assert client.start(noop, fits).describe()["input"] == [fits]
    cycle: list[Any] = []
    cycle.append(cycle)
    refused("refers to itself", lambda: client.start(noop, cycle), db_url)


def test_dataclasses_and_models_still_become_json(client: legato.Engine, noop: Any) -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int
        y: float

    h = client.start(noop, Point(1, 2.5), (1, 2))
    assert h.describe()["input"] == [{"x": 1, "y": 2.5}, [1, 2]]


def test_max_payload_bounds_inputs_event_and_signal_data(make_engine: Make, db_url: str,
                                                         noop: Any) -> None:
    small = make_engine(max_payload=1000)
    small.start(noop, workflow_id="target")
    big = "x" * 2000
    e = refused("workflow input is 2004 bytes of JSON; at most 1000 are allowed",
                lambda: small.start(noop, big), db_url)
    assert "max_payload" in str(e)
    refused("event data is 2002 bytes of JSON; at most 1000",
            lambda: small.publish("paid", data=big), db_url)
    refused("signal data is 2002 bytes", lambda: small.signal("target", "go", big), db_url)
    refused("is 1204 bytes", lambda: small.start(noop, "é" * 600), db_url)  # UTF-8 bytes
    assert small.start(noop, "x" * 900).status == "PENDING"
    with pytest.raises(legato.ConfigError, match="max_payload"):
        make_engine(max_payload=0)


def test_the_default_max_payload_is_4_mib(client: legato.Engine, db_url: str,
                                          noop: Any) -> None:
    assert client.max_payload == 4 * 1024 * 1024
    refused("at most 4194304 are allowed", lambda: client.start(noop, "x" * (4 * 1024 * 1024)),
            db_url)


# --- results of steps and workflows -----------------------------------------------------


@pytest.mark.parametrize(("value", "why"), [(math.nan, "NaN"), ({1, 2}, "a set is not JSON"),
                                            (b"x", "binary data"), ("\ud800", "surrogate")])
def test_a_step_returning_a_value_that_is_not_json_fails_cleanly(
        engine: legato.Engine, unique_name: Callable[[str], str], value: object,
        why: str) -> None:
    @legato.step
    def produce() -> object:
        return value

    @legato.workflow(name=unique_name("bad_result"))
    def flow(ctx: legato.WorkflowContext) -> object:
        return produce()

    h = engine.start(flow)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.error is not None
    assert info.value.error["type"] == "legato.errors.InvalidInput"
    assert "the result of step" in info.value.error["message"]
    assert why in info.value.error["message"]
    assert h.describe()["detail"] != "internal error"
    failed = [e for e in h.history() if e["type"] == "StepFailed"]
    assert len(failed) == 1 and failed[0]["final"]  # not retried: it would fail again


def test_a_workflow_returning_nan_fails_cleanly(engine: legato.Engine,
                                                unique_name: Callable[[str], str]) -> None:
    @legato.workflow(name=unique_name("nan_result"))
    def flow(ctx: legato.WorkflowContext) -> float:
        return math.nan

    with pytest.raises(legato.WorkflowFailed, match="NaN"):
        engine.start(flow).result(timeout=10)


def test_an_exception_with_odd_text_or_args_is_recorded(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def odd() -> None:
        raise ValueError("bad \ud800 text", math.nan)

    @legato.workflow(name=unique_name("odd_error"))
    def flow(ctx: legato.WorkflowContext) -> None:
        odd()

    h = engine.start(flow)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.error is not None and info.value.error["type"] == "builtins.ValueError"
    assert h.describe()["detail"] != "internal error"


# --- signals --------------------------------------------------------------------------------


def test_a_signal_to_an_ended_run_says_how_it_ended(engine: legato.Engine, db_url: str,
                                                    unique_name: Callable[[str], str]) -> None:
    @legato.workflow(name=unique_name("quick"))
    def quick(ctx: legato.WorkflowContext) -> str:
        return "done"

    h = engine.start(quick)
    assert h.result(timeout=10) == "done"
    e = refused("has ended \\(COMPLETED\\)", lambda: h.signal("approve", {"by": "bob"}), db_url)
    assert isinstance(e, legato.WorkflowEnded) and e.status == "COMPLETED"
    with pytest.raises(legato.WorkflowNotFound):
        engine.signal("no-such-run", "approve")


# --- human tasks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "why"), [
    ({"type": "objekt"}, "not a valid JSON Schema at type"),
    ({"$ref": "https://example.invalid/form.json"}, "only local references"),
    ({"properties": {"a": {"$ref": "other.json#/x"}}}, "only local references"),
    ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "points at nothing"),
    (["not", "an", "object"], "must be a JSON Schema object"),
])
def test_a_bad_form_fails_the_workflow_when_the_task_is_created(
        engine: legato.Engine, db_url: str, unique_name: Callable[[str], str],
        form: object, why: str) -> None:
    @legato.workflow(name=unique_name("bad_form"))
    def flow(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("approve", group="finance", form=form)  # type: ignore[arg-type]

    h = engine.start(flow)
    with pytest.raises(legato.WorkflowFailed, match=why) as info:
        h.result(timeout=10)
    assert info.value.error is not None
    assert info.value.error["type"] == "legato.errors.InvalidInput"
    assert "human task 'approve'" in info.value.error["message"]
    assert engine.tasks.list(group="finance", status="OPEN") == []
    assert rows(db_url)["tasks"] == 0


def test_a_good_form_with_a_local_ref_is_accepted(engine: legato.Engine,
                                                  unique_name: Callable[[str], str]) -> None:
    form = {"type": "object", "$defs": {"yes": {"type": "boolean"}},
            "properties": {"approved": {"$ref": "#/$defs/yes"}}, "required": ["approved"]}

    @legato.workflow(name=unique_name("good_form"))
    def flow(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("approve", group="finance", form=form)

    engine.users.add("bob", groups=["finance"])
    h = engine.start(flow)
    h.wait_status("WAITING")
    (task,) = engine.tasks.list(group="finance")
    with pytest.raises(legato.InvalidInput, match="approved"):
        engine.tasks.complete(task.id, "bob", data={"approved": "yes"})
    engine.tasks.complete(task.id, "bob", data={"approved": True})
    assert h.result(timeout=10)["outcome"] == "completed"


def test_task_data_that_is_not_json_fails_the_workflow_not_the_worker(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.workflow(name=unique_name("set_data"))
    def flow(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("approve", group="finance", data={"ids": {1, 2}})

    with pytest.raises(legato.WorkflowFailed, match="a set is not JSON"):
        engine.start(flow).result(timeout=10)


def test_a_stored_form_with_a_remote_ref_gives_a_clear_error_at_completion(
        client: legato.Engine) -> None:
    """A task created before forms were checked at creation."""
    client.users.add("bob", groups=["finance"])
    client.store.create_task(Task(id="old-task", workflow_id="old-run", name="approve",
                                  group="finance", form={"$ref": "https://x.invalid/f.json"}),
                             client.clock.now())
    with pytest.raises(legato.InvalidInput, match="its form cannot be used"):
        client.tasks.complete("old-task", "bob", data={})


# --- schedules ------------------------------------------------------------------------------


@pytest.mark.wallclock
def test_a_cron_that_never_fires_is_refused_at_registration(
        client: legato.Engine, db_url: str, noop: Any) -> None:
    with pytest.raises(legato.InvalidInput, match="never fires"):
        legato.Schedule("0 0 31 2 *")
    refused("schedule 'feb31': .*never fires",
            lambda: client.schedules.create("feb31", noop, "0 0 31 2 *"), db_url)
    refused("schedule 'apr31': .*never fires",
            lambda: client.schedules.create("apr31", noop, "0 0 31 4 *"), db_url)
    with pytest.raises(legato.RegistrationError, match="never fires"):
        @legato.workflow(name="never_registered_feb31", schedule="0 0 31 2 *")
        def never(ctx: legato.WorkflowContext) -> None:
            return None
    leap = client.schedules.create("leap-day", noop, "0 0 29 2 *")  # every 4 years: fires
    assert datetime.fromisoformat(leap["next_tick"]).timestamp() > client.clock.now()


def test_schedule_args_are_strict_json(client: legato.Engine, db_url: str,
                                       noop: Any) -> None:
    with pytest.raises(legato.InvalidInput, match="a set is not JSON"):
        legato.Schedule("0 9 * * *", args=({1, 2},))
    with pytest.raises(legato.InvalidInput, match="must be a list or tuple"):
        legato.Schedule("0 9 * * *", args="daily")  # type: ignore[arg-type]
    refused("schedule 'sets': args is not JSON serialisable: a set",
            lambda: client.schedules.create("sets", noop, "0 9 * * *", args=[{1}]), db_url)
    refused("schedule 'nan': .*NaN",
            lambda: client.schedules.create("nan", noop, "0 9 * * *", args=[math.nan]), db_url)


# --- PostgreSQL schema names -----------------------------------------------------------


@pytest.mark.parametrize("schema", ["evil%0A", "evil%0Ax", "ok%20", "1abc", "a" * 64])
def test_the_schema_name_check_is_anchored_at_both_ends(schema: str) -> None:
    with pytest.raises(legato.ConfigError, match="schema"):
        parse(f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}")
    with pytest.raises(legato.ConfigError, match="schema"):
        legato.Engine(f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}")


# --- the CLI prints user strings escaped -----------------------------------------------


def test_the_cli_escapes_control_characters_in_ids_and_names(make_engine: Make,
                                                             db_url: str) -> None:
    """Rows written before ids were checked (or by other means) may hold anything."""
    engine = make_engine()
    evil = "evil\x1b[2J\nFAKE-ROW COMPLETED\x9b"
    now = engine.clock.now()
    engine.store.create(NewWorkflow(id=evil, name="name\x1b]0;title\x07", input="[]", now=now),
                        Event(1, WORKFLOW_STARTED, now, name="n", data={"input": []}))
    cli = [sys.executable, "-m", "legato.cli.main"]
    listed = subprocess.run([*cli, "list", "--db", db_url], capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\x9b" not in listed.stdout
    assert "\x07" not in listed.stdout
    assert "evil\\x1b[2J\\nFAKE-ROW COMPLETED\\x9b" in listed.stdout
    assert len(listed.stdout.strip().splitlines()) == 2  # the header and one row
    shown = subprocess.run([*cli, "show", evil, "--db", db_url], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x9b" not in shown.stdout
    assert "evil\\x1b[2J" in shown.stdout
    as_json = subprocess.run([*cli, "list", "--json", "--db", db_url], capture_output=True,
                             text=True, timeout=60)
    import json

    assert json.loads(as_json.stdout)[0]["workflow_id"] == evil  # JSON escapes by itself
