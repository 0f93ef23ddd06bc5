"""The Lambda functions the conformance cases call, written as the recorded ones were.

Each is compiled from its source under the name AWS gives it (``/var/task/handler.py``), so a
raised exception's stack trace -- part of the error cause AWS recorded -- comes out the same.
``wait_60_seconds`` sleeps on the execution's virtual clock.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any

from legato import asl

_FILENAME = "/var/task/handler.py"

SOURCES = {
    "id_function.py": "def handler(event, context):\n    return event\n",
    "echo_function.py": 'def handler(event, context):\n    return {"Return": "HelloWorld"}\n',
    "raise_exception.py": (
        "def handler(event, context):\n"
        '    raise Exception("Some exception was raised.")\n'),
    "raise_custom_exception.py": (
        "class CustomException(Exception):\n"
        "    message: str\n"
        "\n"
        "    def __init__(self):\n"
        '        self.message = "CustomException message"\n'
        "\n"
        "\n"
        "def handler(event, context):\n"
        "    raise CustomException()\n"),
    "return_bytes_str.py": "def handler(event, context):\n    return b'\"HelloWorld!\"'\n",
    "large_output_string.py": (
        "def handler(event, context):\n"
        '    return "a" * (257 * 1024)\n'),
    "wait_60_seconds.py": (
        "from legato import asl\n"
        "\n"
        "\n"
        "def handler(event, context):\n"
        "    asl.sleep(60)\n"
        "    return event\n"),
}


def load(file: str) -> Callable[..., Any]:
    source = SOURCES[file]
    namespace: dict[str, Any] = {"__name__": f"lambda_{file[:-3]}", "asl": asl}
    exec(compile(source, _FILENAME, "exec"), namespace)
    fn: Callable[..., Any] = namespace["handler"]
    return fn


def handlers_for(functions: dict[str, str] | None) -> dict[str, Callable[..., Any]]:
    """``{function name: handler}`` for a case's ``lambda_functions``.

    Tracebacks read a handler's lines from the line cache. Every function shares one file
    name, as on AWS; no case raises from two different files, so the last one loaded wins.
    """
    out = {}
    for name, file in (functions or {}).items():
        out[name] = load(file)
        lines = SOURCES[file].splitlines(keepends=True)
        if "raise" in SOURCES[file]:
            linecache.cache[_FILENAME] = (len(SOURCES[file]), None, lines, _FILENAME)
    return out
