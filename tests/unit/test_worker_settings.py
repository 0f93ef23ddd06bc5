"""legato.WorkerSettings: one frozen, checked value for how workers run; its defaults are the
Engine's and the CLI's; from_env reads the LEGATO_* variables and names the one that is
wrong."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import timedelta
from typing import Any

import pytest

import legato
from legato.worker.settings import DEFAULTS, ENV, WorkerSettings


def test_the_defaults() -> None:
    s = legato.WorkerSettings()
    assert (s.concurrency, s.step_threads, s.lease, s.inline_steps, s.grace, s.history_limit,
            s.watchdog, s.max_payload, s.retention, s.processes) == (
        500, 32, 5.0, True, 10.0, 50_000, 1.0, 4 * 1024 * 1024, None, 0)
    assert s == DEFAULTS


def test_every_setting_has_its_environment_variable() -> None:
    fields = [f.name for f in dataclasses.fields(WorkerSettings)]
    assert list(ENV) == fields
    assert all(ENV[name] == f"LEGATO_{name.upper()}" for name in fields)


def test_frozen_and_picklable() -> None:
    s = WorkerSettings(concurrency=4, retention=60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.concurrency = 5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(s)) == s
    assert s.replace(lease=2) == WorkerSettings(concurrency=4, retention=60, lease=2.0)


def test_values_are_normalised() -> None:
    s = WorkerSettings(lease=2, grace=0, watchdog=3, retention=timedelta(days=1),
                       inline_steps=0)  # type: ignore[arg-type]
    assert (s.lease, s.grace, s.watchdog, s.retention, s.inline_steps) == (
        2.0, 0.0, 3.0, 86400.0, False)
    assert isinstance(s.lease, float) and s.inline_steps is False


@pytest.mark.parametrize(("changes", "named"), [
    ({"concurrency": 0}, "concurrency"), ({"concurrency": 1.5}, "concurrency"),
    ({"concurrency": True}, "concurrency"), ({"step_threads": 0}, "step_threads"),
    ({"lease": 0}, "lease"), ({"lease": float("nan")}, "lease"), ({"lease": "5"}, "lease"),
    ({"inline_steps": "no"}, "inline_steps"), ({"grace": -1}, "grace"),
    ({"grace": float("inf")}, "grace"), ({"history_limit": 9}, "history_limit"),
    ({"watchdog": 0}, "watchdog"), ({"watchdog": float("inf")}, "watchdog"),
    ({"max_payload": 0}, "max_payload"), ({"retention": -1}, "retention"),
    ({"processes": -1}, "processes"), ({"processes": 2.0}, "processes"),
])
def test_a_bad_value_is_a_config_error_naming_the_setting(changes: dict[str, Any],
                                                          named: str) -> None:
    with pytest.raises(legato.ConfigError, match=f"^{named} must"):
        WorkerSettings(**changes)
    with pytest.raises(legato.ConfigError, match=f"^{named} must"):
        DEFAULTS.replace(**changes)


def test_from_env_reads_every_variable() -> None:
    env = {"LEGATO_CONCURRENCY": "8", "LEGATO_STEP_THREADS": "4", "LEGATO_LEASE": "2.5",
           "LEGATO_INLINE_STEPS": "off", "LEGATO_GRACE": "1m", "LEGATO_HISTORY_LIMIT": "100",
           "LEGATO_WATCHDOG": "none", "LEGATO_MAX_PAYLOAD": "1024",
           "LEGATO_RETENTION": "30d", "LEGATO_PROCESSES": "2", "LEGATO_OTHER": "x"}
    assert WorkerSettings.from_env(env) == WorkerSettings(
        concurrency=8, step_threads=4, lease=2.5, inline_steps=False, grace=60.0,
        history_limit=100, watchdog=None, max_payload=1024, retention=30 * 86400.0,
        processes=2)


def test_from_env_keeps_defaults_for_what_is_unset_or_empty_and_overrides_win() -> None:
    assert WorkerSettings.from_env({}) == DEFAULTS
    assert WorkerSettings.from_env({"LEGATO_CONCURRENCY": " "}) == DEFAULTS
    env = {"LEGATO_CONCURRENCY": "8", "LEGATO_RETENTION": "keep", "LEGATO_INLINE_STEPS": "1"}
    assert WorkerSettings.from_env(env, concurrency=3) == WorkerSettings(concurrency=3)


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_STEP_THREADS", "7")
    assert WorkerSettings.from_env().step_threads == 7


@pytest.mark.parametrize(("var", "raw"), [
    ("LEGATO_CONCURRENCY", "many"), ("LEGATO_CONCURRENCY", "0"), ("LEGATO_LEASE", "5y"),
    ("LEGATO_LEASE", "0"), ("LEGATO_INLINE_STEPS", "maybe"), ("LEGATO_WATCHDOG", "-1"),
    ("LEGATO_RETENTION", "forever"), ("LEGATO_PROCESSES", "1.5"), ("LEGATO_GRACE", "nan"),
])
def test_from_env_names_the_variable_that_is_wrong(var: str, raw: str) -> None:
    with pytest.raises(legato.ConfigError) as err:
        WorkerSettings.from_env({var: raw})
    assert str(err.value).startswith(f"{var}={raw!r}: ")
    setting = next(name for name, v in ENV.items() if v == var)
    assert setting in str(err.value)


def test_engine_keywords_build_the_settings(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    engine = legato.Engine(url)
    try:
        assert engine.settings == DEFAULTS
        assert (engine.concurrency, engine.lease, engine.processes, engine.max_payload) == (
            500, 5.0, 0, 4 * 1024 * 1024)
    finally:
        engine.shutdown()
    engine = legato.Engine(url, concurrency=3, retention=timedelta(hours=1), watchdog=None,
                           settings=WorkerSettings(lease=2, grace=1))
    try:  # a keyword replaces its setting; the others come from settings=
        assert engine.settings == WorkerSettings(concurrency=3, retention=3600.0,
                                                 watchdog=None, lease=2.0, grace=1.0)
        assert (engine.concurrency, engine.retention, engine.watchdog, engine.lease) == (
            3, 3600.0, None, 2.0)
    finally:
        engine.shutdown()


def test_engine_refuses_bad_settings_before_opening_anything(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    for options in ({"concurrency": 0}, {"step_threads": 0}, {"lease": 0},
                    {"settings": "fast"}, {"history_limit": 5}):
        with pytest.raises(legato.ConfigError):
            legato.Engine(url, **options)
    assert not (tmp_path / "never.db").exists()


def test_from_env_does_not_read_the_variable_of_a_setting_overridden() -> None:
    assert WorkerSettings.from_env({"LEGATO_CONCURRENCY": "many"}, concurrency=3) == \
        WorkerSettings(concurrency=3)
