"""What is said to workers, and what worker processes say back: typed messages, one encoding.

An engine tells its workers (:class:`legato.worker.workers.Workers`) what to do with a
:data:`WorkerCommand`; a worker passes its hub the same values through the hub's inbox
(:data:`HubMessage`, which adds the hub's own: a step attempt that ended, a stop, a test
clock's question). Worker processes receive the commands, and answer with a :data:`Reply`,
over pipes: :func:`encode` and :func:`decode_command` / :func:`decode_reply` are the only
code that knows the bytes.

The encoding is a tag byte and the fields in UTF-8 (lone surrogates pass), separated by NUL
(which no workflow id, workflow name or status holds; JSON escapes it, so a result may end
the message as it is). One byte string per message: the pipes add the framing. The sender
keeps a message to ``processes.MAX_MESSAGE`` bytes (a pipe write that size is atomic).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

if TYPE_CHECKING:
    from legato.runtime.attempt import StepOutcome
    from legato.runtime.run import Fiber
    from legato.store.base import Claimed

# --- commands: engine -> workers (and across the pipe to a worker process) ---------------


@dataclass(frozen=True, slots=True)
class Adopt:
    """Run this workflow, born owned by the worker it is sent to (no claim needed). In the
    worker's process the row and journal come along (``claimed``); across a pipe only the id
    travels and the worker reads the rest."""

    workflow_id: str
    claimed: Claimed | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancellation was requested: interrupt the run if this worker runs it."""

    workflow_id: str


@dataclass(frozen=True, slots=True)
class Drop:
    """The run is no longer this worker's (terminated, or handed to others): forget it
    without writing (its writes are fenced already)."""

    workflow_id: str


@dataclass(frozen=True, slots=True)
class DropAll:
    """Forget every run (the worker was declared dead: all are fenced)."""


@dataclass(frozen=True, slots=True)
class Poke:
    """Something became runnable: look at the store now, not at the next poll."""


@dataclass(frozen=True, slots=True)
class PokeScheduler:
    """The schedules changed: the scheduler reads them now."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop: claim nothing more, let running steps finish for ``grace`` seconds, release
    the rest."""

    grace: float


#: what an engine sends its workers (``Workers.send``); stopping is ``Workers.stop``
WorkerCommand = Adopt | Cancel | Drop | DropAll | Poke | PokeScheduler

#: shared instances of the commands without fields (nothing to allocate on the hot path)
POKE = Poke()
POKE_SCHEDULER = PokeScheduler()
DROP_ALL = DropAll()

# --- the hub's own messages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepEnded:
    """A step attempt ended (in the pool or on the asyncio loop): resume its fiber."""

    fiber: Fiber
    token: int
    outcome: StepOutcome


@dataclass(frozen=True, slots=True)
class Idle:
    """A test clock asks whether the hub is idle: the answer is put on ``reply``."""

    reply: queue.SimpleQueue[float | None]


#: everything a hub's inbox takes
HubMessage = StepEnded | Adopt | Poke | Cancel | Drop | DropAll | Stop | Idle

# --- replies: worker process -> engine ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """The worker process runs its worker, registered as ``worker_id``."""

    worker_id: str


@dataclass(frozen=True, slots=True)
class StartFailed:
    """The worker process could not start (a module that fails to import ...)."""

    message: str


@dataclass(frozen=True, slots=True)
class Done:
    """The worker ended this run with ``status`` (committed)."""

    workflow_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Completed:
    """The worker committed this run COMPLETED with ``result`` (JSON); sent before its
    :class:`Done` when it fits in a message."""

    workflow_id: str
    name: str
    result: str


Reply = Ready | StartFailed | Done | Completed

# --- the encoding -------------------------------------------------------------------------

_ERRORS = "surrogatepass"


def _field(value: str, what: str) -> bytes:
    """A field that other fields follow: it must not hold the separator."""
    if "\0" in value:
        raise ValueError(f"a {what} holding NUL cannot be sent to or from a worker process")
    return value.encode("utf-8", _ERRORS)


def encode(msg: WorkerCommand | Stop | Reply) -> bytes:
    """The bytes of ``msg`` on a worker process's pipe (``Adopt`` sends its id only).
    Raises ValueError for a field that would not decode the same (an id holding NUL)."""
    match msg:  # (the messages of every run first)
        case Adopt():
            return b"a" + msg.workflow_id.encode("utf-8", _ERRORS)
        case Done():
            return b"D" + _field(msg.status, "status") + b"\0" \
                + msg.workflow_id.encode("utf-8", _ERRORS)
        case Completed():
            return b"C" + _field(msg.workflow_id, "workflow id") + b"\0" \
                + _field(msg.name, "name") + b"\0" + msg.result.encode("utf-8", _ERRORS)
        case Poke():
            return b"p"
        case Cancel():
            return b"c" + msg.workflow_id.encode("utf-8", _ERRORS)
        case Drop():
            return b"d" + msg.workflow_id.encode("utf-8", _ERRORS)
        case DropAll():
            return b"o"
        case PokeScheduler():
            return b"S"
        case Stop():
            return b"s%r" % float(msg.grace)
        case Ready():
            return b"R" + msg.worker_id.encode("utf-8", _ERRORS)
        case StartFailed():
            return b"E" + msg.message.encode("utf-8", _ERRORS)
        case _:
            assert_never(msg)


def _done(data: bytes) -> Done:
    status, sep, wid = data[1:].partition(b"\0")
    if not sep:
        raise ValueError(f"not a worker process's reply: {bytes(data[:20])!r}")
    return Done(wid.decode("utf-8", _ERRORS), status.decode("utf-8", _ERRORS))


def _completed(data: bytes) -> Completed:
    wid, name, result = data[1:].decode("utf-8", _ERRORS).split("\0", 2)
    return Completed(wid, name, result)


_COMMANDS: dict[int, Callable[[bytes], WorkerCommand | Stop]] = {
    ord("a"): lambda d: Adopt(d[1:].decode("utf-8", _ERRORS)),
    ord("p"): lambda d: POKE,
    ord("c"): lambda d: Cancel(d[1:].decode("utf-8", _ERRORS)),
    ord("d"): lambda d: Drop(d[1:].decode("utf-8", _ERRORS)),
    ord("o"): lambda d: DROP_ALL,
    ord("S"): lambda d: POKE_SCHEDULER,
    ord("s"): lambda d: Stop(float(d[1:])),
}
_REPLIES: dict[int, Callable[[bytes], Reply]] = {
    ord("D"): _done,
    ord("C"): _completed,
    ord("R"): lambda d: Ready(d[1:].decode("utf-8", _ERRORS)),
    ord("E"): lambda d: StartFailed(d[1:].decode("utf-8", _ERRORS)),
}


def decode_command(data: bytes) -> WorkerCommand | Stop:
    """The command ``data`` encodes (what a worker process reads); ValueError if none."""
    try:
        parse = _COMMANDS[data[0]]
    except (KeyError, IndexError):
        raise ValueError(f"not a worker command: {bytes(data[:20])!r}") from None
    return parse(data)


def decode_reply(data: bytes) -> Reply:
    """The reply ``data`` encodes (what the engine reads); ValueError if none."""
    try:
        parse = _REPLIES[data[0]]
    except (KeyError, IndexError):
        raise ValueError(f"not a worker process's reply: {bytes(data[:20])!r}") from None
    return parse(data)
