"""A Map's ``ItemReader``: items read through a handler (S3 getObject / listObjectsV2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import legato
from legato import asl
from legato.testing import VirtualClock, run_to_completion

GET = "arn:aws:states:::s3:getObject"
LIST = "arn:aws:states:::s3:listObjectsV2"
OBJECTS = {
    "orders.json": '[{"id": 1}, {"id": 2}, {"id": 3}]',
    "orders.jsonl": '{"id": 1}\n{"id": 2}\n\n{"id": 3}\n',
    "orders.csv": "id,total\n1,10\n2,20\n3,30\n",
    "orders.psv": "1|10\n2|20\n",
}


def get_object(event: Any) -> str:
    return OBJECTS[event["Key"]]


def distributed(reader: dict[str, Any], inner: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    return {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True, "ItemReader": reader,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                              "ExecutionType": "STANDARD"},
                          "StartAt": "P", "States": {"P": inner or {"Type": "Pass",
                                                                    "End": True}}}}}}


@pytest.mark.parametrize(("key", "config", "expected"), [
    ("orders.json", {"InputType": "JSON"}, [{"id": 1}, {"id": 2}, {"id": 3}]),
    ("orders.jsonl", {"InputType": "JSONL", "MaxItems": 2}, [{"id": 1}, {"id": 2}]),
    ("orders.csv", {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
     [{"id": "1", "total": "10"}, {"id": "2", "total": "20"}, {"id": "3", "total": "30"}]),
    ("orders.psv", {"InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                    "CSVHeaders": ["id", "total"], "CSVDelimiter": "PIPE"},
     [{"id": "1", "total": "10"}, {"id": "2", "total": "20"}]),
])
def test_get_object_items_by_input_type(key: str, config: dict[str, Any],
                                        expected: list[Any]) -> None:
    definition = distributed({"Resource": GET, "ReaderConfig": config,
                              "Parameters": {"Bucket": "b", "Key.$": "$.key"}})
    result = asl.execute(definition, {"key": key}, handlers={GET: get_object})
    assert (result.status, result.output) == ("SUCCEEDED", expected)


def test_list_objects_items_and_max_items_path() -> None:
    def list_objects(event: Any) -> Any:
        assert event == {"Bucket": "b", "Prefix": "in/"}
        return {"Contents": [{"Key": f"in/{i}.json", "Size": i} for i in range(5)]}

    definition = distributed({"Resource": LIST, "ReaderConfig": {"MaxItemsPath": "$.most"},
                              "Parameters": {"Bucket": "b", "Prefix": "in/"}},
                             {"Type": "Pass", "InputPath": "$.Key", "End": True})
    result = asl.execute(definition, {"most": 2}, handlers={LIST: list_objects})
    assert result.output == ["in/0.json", "in/1.json"]


def test_a_reader_that_fails_or_returns_nonsense_fails_the_map() -> None:
    def broken(event: Any) -> Any:
        raise PermissionError("AccessDenied")

    definition = distributed({"Resource": GET, "ReaderConfig": {"InputType": "JSON"},
                              "Parameters": {"Bucket": "b", "Key": "k"}})
    failed = asl.execute(definition, {}, handlers={GET: broken})
    assert (failed.status, failed.error) == ("FAILED", "States.ItemReaderFailed")
    assert "AccessDenied" in (failed.cause or "")
    nonsense = asl.execute(definition, {}, handlers={GET: lambda e: '{"not": "a list"}'})
    assert (nonsense.status, nonsense.error) == ("FAILED", "States.ItemReaderFailed")
    assert "array" in (nonsense.cause or "")


def test_bad_reader_definitions_are_named_with_their_path() -> None:
    with pytest.raises(asl.DefinitionError) as info:
        asl.parse(distributed({"ReaderConfig": {"InputType": "XML",
                                                 "CSVHeaderLocation": "GIVEN"}}))
    text = str(info.value)
    assert "States.Each.ItemReader: needs a Resource" in text
    assert "States.Each.ItemReader.ReaderConfig.InputType: must be CSV, JSON" in text
    assert "CSVHeaderLocation GIVEN needs CSVHeaders" in text


def test_a_missing_reader_handler_is_refused_at_once() -> None:
    definition = distributed({"Resource": GET, "Parameters": {"Bucket": "b", "Key": "k"}})
    with pytest.raises(asl.HandlerError, match="ItemReader"):
        asl.execute(definition, {}, handlers={})


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[legato.Engine]:
    from legato.runtime.registry import REGISTRY

    before = set(REGISTRY.names())
    with legato.Engine(f"sqlite:///{tmp_path}/reader.db",
                       clock=VirtualClock(start=1_800_000_000.0)) as eng:
        yield eng
    for name in set(REGISTRY.names()) - before:
        REGISTRY.remove(name)


def test_durably_the_read_is_a_journaled_step(engine: legato.Engine) -> None:
    reads: list[str] = []

    def counted(event: Any) -> str:
        reads.append(event["Key"])
        return OBJECTS[event["Key"]]

    asl.register("asl_reader", distributed(
        {"Resource": GET, "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
         "Parameters": {"Bucket": "b", "Key.$": "$.key"}},
        {"Type": "Wait", "Seconds": 60, "End": True}), handlers={GET: counted})
    handle = engine.start("asl_reader", {"key": "orders.csv"})
    output = run_to_completion(handle, engine.clock)  # type: ignore[arg-type]
    assert [o["id"] for o in output] == ["1", "2", "3"]
    assert reads == ["orders.csv"]  # read once, replayed from the journal after the waits
    steps = [e for e in handle.history() if e["type"] == "StepCompleted"]
    assert any(GET in e["name"] for e in steps)
