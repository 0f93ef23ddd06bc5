"""How a worker runs: one frozen, validated value, written once.

``Engine(url, concurrency=..., ...)`` builds a :class:`WorkerSettings` from its keyword
arguments (or takes one: ``Engine(url, settings=...)``), ``legato worker`` from its options and
the environment (:meth:`WorkerSettings.from_env`), and an engine's worker processes receive
the engine's own.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from legato.domain import inputs
from legato.errors import ConfigError, InvalidInput

#: the environment variable of each setting (read by :meth:`WorkerSettings.from_env`)
ENV: Mapping[str, str] = {
    "concurrency": "LEGATO_CONCURRENCY",
    "step_threads": "LEGATO_STEP_THREADS",
    "lease": "LEGATO_LEASE",
    "inline_steps": "LEGATO_INLINE_STEPS",
    "grace": "LEGATO_GRACE",
    "history_limit": "LEGATO_HISTORY_LIMIT",
    "watchdog": "LEGATO_WATCHDOG",
    "max_payload": "LEGATO_MAX_PAYLOAD",
    "retention": "LEGATO_RETENTION",
    "processes": "LEGATO_PROCESSES",
}


@dataclass(frozen=True)
class WorkerSettings:
    """The settings of an engine's workers; each is checked when the value is made
    (:class:`legato.ConfigError` naming the setting).

    ``concurrency``: runs a worker has in flight at once (500). ``step_threads``: threads
    running sync steps (32). ``lease``: seconds of a worker's liveness lease, renewed every
    third of it (5). ``inline_steps``: quick sync steps may run on the hub's own thread
    (True). ``grace``: seconds running steps get to finish when the worker stops (10).
    ``history_limit``: events a run may record (50,000). ``watchdog``: seconds a workflow body
    may run without parking (1; ``None``: never checked). ``max_payload``: the most bytes of
    JSON an input, event, signal data or result may take (4 MiB). ``retention``: seconds
    after which ended runs are purged (``None``: kept). ``processes``: worker processes (0:
    the worker runs in the engine's own process).

    :meth:`from_env` reads them from ``LEGATO_CONCURRENCY``, ``LEGATO_STEP_THREADS``,
    ``LEGATO_LEASE``, ``LEGATO_INLINE_STEPS``, ``LEGATO_GRACE``, ``LEGATO_HISTORY_LIMIT``,
    ``LEGATO_WATCHDOG``, ``LEGATO_MAX_PAYLOAD``, ``LEGATO_RETENTION`` and
    ``LEGATO_PROCESSES``.
    """

    concurrency: int = 500
    step_threads: int = 32
    lease: float = 5.0
    inline_steps: bool = True
    grace: float = 10.0
    history_limit: int = 50_000
    watchdog: float | None = 1.0
    max_payload: int = inputs.DEFAULT_MAX_PAYLOAD
    retention: float | None = None
    processes: int = 0

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            value = getattr(self, name)
            try:
                checked = check(value, name)
            except InvalidInput as exc:
                raise ConfigError(str(exc)) from None
            if checked is not value:
                object.__setattr__(self, name, checked)

    def replace(self, **changes: Any) -> WorkerSettings:
        """A copy with ``changes`` (checked as well)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 **overrides: Any) -> WorkerSettings:
        """The settings in the environment (``environ``, default ``os.environ``; see
        :data:`ENV` for the names; a variable unset or empty keeps the default), then
        ``overrides`` (the variable of a setting overridden is not read). Seconds may be
        given as ``90``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w``;
        ``LEGATO_WATCHDOG=off`` turns the watchdog off, ``LEGATO_RETENTION=keep`` keeps
        ended runs; ``LEGATO_INLINE_STEPS`` is ``1``/``0`` (``true``/``false``,
        ``yes``/``no``, ``on``/``off``). A value that is not valid raises
        :class:`legato.ConfigError` naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            raw = env.get(var, "").strip()
            if not raw or name in overrides:
                continue
            try:
                value = _PARSE[name](raw, name)
                value = _CHECKS[name](value, name)
            except (InvalidInput, ValueError) as exc:
                raise ConfigError(f"{var}={raw!r}: {exc}") from None
            values[name] = value
        values.update(overrides)
        return cls(**values)


# --- checks (on every value made) ---------------------------------------------------------


def _count(least: int, most: int = inputs.COUNT_MAX) -> Callable[[Any, str], int]:
    def check(value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InvalidInput(f"{what} must be a whole number, {least} or more, not"
                               f" {value!r}")
        if value > most:
            raise InvalidInput(f"{what} must be at most {most}, not {value!r}")
        return value
    return check


def _secs(*, zero: bool) -> Callable[[Any, str], float]:
    def check(value: Any, what: str) -> float:
        return inputs.seconds(value, what, allow_zero=zero)
    return check


def _maybe_secs(*, zero: bool) -> Callable[[Any, str], float | None]:
    def maybe(value: Any, what: str) -> float | None:
        if value is None:
            return None
        try:
            return inputs.seconds(value, what, allow_zero=zero)
        except InvalidInput as exc:
            raise InvalidInput(f"{exc} (None: {_NONE[what]})") from None
    return maybe


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise InvalidInput(f"{what} must be True or False, not {value!r}")


_NONE = {"watchdog": "never checked", "retention": "kept for ever"}
_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "concurrency": _count(1),
    "step_threads": _count(1),
    "lease": _secs(zero=False),
    "inline_steps": _flag,
    "grace": _secs(zero=True),
    "history_limit": _count(10),
    "watchdog": _maybe_secs(zero=False),
    "max_payload": _count(1),
    "retention": _maybe_secs(zero=True),
    "processes": _count(0, 1024),
}

# --- parsing environment variables --------------------------------------------------------

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number") from None


def duration(text: str, what: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w``."""
    t = text.strip().lower()
    unit = _UNITS.get(t[-1:])
    try:
        return float(t[:-1] if unit is not None else t) * (unit or 1.0)
    except ValueError:
        raise ValueError(f"{what} must be seconds or a number with s, m, h, d or w"
                         " (e.g. 30d)") from None


def _bool(text: str, what: str) -> bool:
    t = text.lower()
    if t in _TRUE or t in _FALSE:
        return t in _TRUE
    raise ValueError(f"{what} must be 1 or 0 (true/false, yes/no, on/off)")


def _or_none(words: set[str]) -> Callable[[str, str], float | None]:
    def parse(text: str, what: str) -> float | None:
        return None if text.lower() in words else duration(text, what)
    return parse


_PARSE: dict[str, Callable[[str, str], Any]] = {
    "concurrency": _int,
    "step_threads": _int,
    "lease": duration,
    "inline_steps": _bool,
    "grace": duration,
    "history_limit": _int,
    "watchdog": _or_none({"off", "none"}),
    "max_payload": _int,
    "retention": _or_none({"keep", "none", "off"}),
    "processes": _int,
}

#: the defaults, for whoever shows them (``legato worker --help``)
DEFAULTS = WorkerSettings()
