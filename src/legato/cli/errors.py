"""The CLI's own error: a message for stderr and an exit code."""

from __future__ import annotations

#: exit codes
OK = 0
FAILED = 1  # the workflow ended FAILED / CANCELLED / TIMED_OUT (start --wait, cancel --wait)
USAGE = 2  # bad input: unknown workflow or id, input that is not JSON, bad database URL ...
STILL_RUNNING = 3  # --wait gave up after --timeout; the workflow goes on


class CliError(Exception):
    """Ends the command with ``error: <message>`` on stderr and exit ``code``."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
