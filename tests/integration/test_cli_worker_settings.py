"""``legato worker`` builds its legato.WorkerSettings from its options, then the LEGATO_*
environment variables, then the settings' defaults; a bad variable is one error line naming
it (exit 2) before any module is imported."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from cli_support import cli

import legato
import legato.cli.worker
from legato.cli.main import app
from legato.worker.settings import DEFAULTS, ENV


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``run_worker`` was called with (it is not run)."""
    calls: list[dict[str, Any]] = []

    def run_worker(modules: list[str], **options: Any) -> int:
        calls.append({"modules": modules, **options})
        return 0

    monkeypatch.setattr(legato.cli.worker, "run_worker", run_worker)
    for var in ENV.values():
        monkeypatch.delenv(var, raising=False)
    return calls


def test_defaults_come_from_the_settings(ran: list[dict[str, Any]],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "worker", "flows")[0] == 0
    assert ran[-1]["settings"] == DEFAULTS and ran[-1]["modules"] == ["flows"]


def test_environment_then_options(ran: list[dict[str, Any]], capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_CONCURRENCY", "7")
    monkeypatch.setenv("LEGATO_WATCHDOG", "off")  # a setting the worker has no option for
    monkeypatch.setenv("LEGATO_RETENTION", "1d")
    assert cli(capsys, "worker", "flows", "--lease", "2", "--no-inline-steps")[0] == 0
    assert ran[-1]["settings"] == legato.WorkerSettings(
        concurrency=7, watchdog=None, retention=86400.0, lease=2.0, inline_steps=False)
    assert cli(capsys, "worker", "flows", "--concurrency", "3", "--retention", "2h")[0] == 0
    assert (ran[-1]["settings"].concurrency, ran[-1]["settings"].retention) == (3, 7200.0)


def test_a_bad_variable_is_an_error_naming_it(ran: list[dict[str, Any]],
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_STEP_THREADS", "lots")
    code, _, err = cli(capsys, "worker", "flows")
    assert code == 2 and ran == []
    assert err.startswith("error: LEGATO_STEP_THREADS='lots': step_threads must be")
    assert cli(capsys, "worker", "flows", "--step-threads", "4")[0] == 0  # an option wins


def test_the_help_shows_the_defaults_and_the_variables() -> None:
    command = typer.main.get_command(app).commands["worker"]  # type: ignore[attr-defined]
    helps = " ".join(getattr(p, "help", None) or "" for p in command.params)
    for shown in ("$LEGATO_CONCURRENCY, else 500", "$LEGATO_LEASE, else 5]",
                  "$LEGATO_STEP_THREADS, else 32", "$LEGATO_GRACE, else 10]",
                  "$LEGATO_PROCESSES, else 0", "$LEGATO_RETENTION, else keep them",
                  "$LEGATO_INLINE_STEPS, else on"):
        assert shown in helps, shown
