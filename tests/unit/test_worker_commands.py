"""The messages of legato.worker.commands: one encoding for the worker processes' pipes, bytes
in and bytes out, every command and reply round-trips; a message never outgrows a pipe's
atomic write."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from legato.worker.commands import (
    DROP_ALL,
    POKE,
    POKE_SCHEDULER,
    Adopt,
    Cancel,
    Completed,
    Done,
    Drop,
    DropAll,
    Poke,
    PokeScheduler,
    Ready,
    StartFailed,
    Stop,
    decode_command,
    decode_reply,
    encode,
)
from legato.worker.processes import MAX_MESSAGE, _start_failed

#: ids and names as stores hold them: any text but NUL (lone surrogates too)
ids = hs.text(hs.characters(blacklist_characters="\0", blacklist_categories=()), max_size=60)
#: JSON results: NUL would be escaped, but a result is the last field and may hold anything
results = hs.text(hs.characters(blacklist_categories=()), max_size=200)

COMMANDS = [Adopt("w-1"), Cancel("w-2"), Drop("w-3"), DropAll(), Poke(), PokeScheduler(),
            Stop(2.5), Stop(0.0)]
REPLIES = [Ready("host-1-abc"), StartFailed("ImportError: no module named 'x'"),
           Done("w-1", "COMPLETED"), Completed("w-1", "orders", '{"ok":true}'),
           Completed("w-1", "orders", "")]


@pytest.mark.parametrize("command", COMMANDS, ids=repr)
def test_every_command_round_trips(command: object) -> None:
    data = encode(command)  # type: ignore[arg-type]
    assert isinstance(data, bytes) and len(data) <= MAX_MESSAGE
    assert decode_command(data) == command


@pytest.mark.parametrize("reply", REPLIES, ids=repr)
def test_every_reply_round_trips(reply: object) -> None:
    data = encode(reply)  # type: ignore[arg-type]
    assert decode_reply(data) == reply


@given(ids)
def test_ids_round_trip_whatever_they_hold(wid: str) -> None:
    for command in (Adopt(wid), Cancel(wid), Drop(wid)):
        assert decode_command(encode(command)) == command
    assert decode_reply(encode(Ready(wid))) == Ready(wid)
    assert decode_reply(encode(Done(wid, "FAILED"))) == Done(wid, "FAILED")


@given(ids, ids, results)
def test_completed_round_trips(wid: str, name: str, result: str) -> None:
    msg = Completed(wid, name, result)
    assert decode_reply(encode(msg)) == msg


@given(hs.floats(min_value=0, max_value=1e9))
def test_stop_keeps_its_grace_exactly(grace: float) -> None:
    assert decode_command(encode(Stop(grace))) == Stop(grace)


def test_adopt_sends_the_id_only() -> None:
    assert decode_command(encode(Adopt("w-1", claimed=object()))) == Adopt("w-1")  # type: ignore[arg-type]


def test_commands_without_fields_decode_to_the_shared_instances() -> None:
    assert decode_command(encode(Poke())) is POKE
    assert decode_command(encode(PokeScheduler())) is POKE_SCHEDULER
    assert decode_command(encode(DropAll())) is DROP_ALL


def test_commands_are_frozen_values() -> None:
    assert Cancel("a") == Cancel("a") and Cancel("a") != Drop("a")
    assert len({Cancel("a"), Cancel("a"), Drop("a")}) == 2
    with pytest.raises(AttributeError):
        Cancel("a").workflow_id = "b"  # type: ignore[misc]


def test_a_field_followed_by_others_cannot_hold_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        encode(Completed("w\0x", "orders", "1"))
    with pytest.raises(ValueError, match="NUL"):
        encode(Completed("w", "or\0ders", "1"))
    with pytest.raises(ValueError, match="NUL"):
        encode(Done("w", "COMP\0LETED"))


@pytest.mark.parametrize("data", [b"", b"?", b"Dno-separator", b"Cone\0field", b"snot-a-float",
                                  b"\xff"])
def test_what_is_not_a_message_is_a_value_error(data: bytes) -> None:
    for decode in (decode_command, decode_reply):
        with pytest.raises(ValueError):
            decode(data)


def test_each_side_reads_only_its_own_messages() -> None:
    with pytest.raises(ValueError):
        decode_command(encode(Done("w-1", "COMPLETED")))
    with pytest.raises(ValueError):
        decode_reply(encode(Cancel("w-1")))


def test_a_start_failure_is_cut_to_fit_a_message() -> None:
    for message in ("short", "é" * 2000, "x" * 10_000, "\U0001f600" * 300):
        data = _start_failed(message)
        assert len(data) <= MAX_MESSAGE
        got = decode_reply(data)
        assert isinstance(got, StartFailed) and message.startswith(got.message.rstrip("…"))


def test_stop_encodes_any_float_grace() -> None:
    assert decode_command(encode(Stop(math.pi))) == Stop(math.pi)
