"""What every CLI command shares: exit codes, the CLI's error, opening the engine."""

from __future__ import annotations

from typing import Any

from legato.cli.output import one_line, redact_passwords
from legato.engine import Engine
from legato.errors import LegatoError
from legato.store.url import resolve_url

#: exit codes
OK = 0
FAILED = 1  # the workflow ended FAILED / CANCELLED / TIMED_OUT (start --wait, cancel --wait)
USAGE = 2  # bad input: unknown workflow or id, input that is not JSON, bad database URL ...
STILL_RUNNING = 3  # --wait gave up after --timeout; the workflow goes on
INTERRUPTED = 130  # Ctrl-C while waiting; a second signal to a stopping worker


class CliError(Exception):
    """Ends the command with ``error: <message>`` on stderr and exit ``code``."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def open_engine(url: str | None, **options: Any) -> Engine:
    """``Engine(url, **options)``; any failure to open its database is a :class:`CliError`.

    Stores raise :class:`legato.ConfigError` for what they anticipate; anything else (a driver
    error, a permission problem) is reported the same way: one line, exit code 2.
    """
    try:
        return Engine(url, **options)
    except LegatoError:
        raise
    except Exception as exc:
        shown = redact_passwords(resolve_url(url))
        raise CliError(f"cannot open database {shown}: {type(exc).__name__}: "
                       f"{one_line(str(exc))}", USAGE) from None
