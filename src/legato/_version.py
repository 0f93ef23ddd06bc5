"""legato's version: one source, the installed package's metadata (pyproject.toml).

Read on first use, not at import: ``importlib.metadata`` costs tens of milliseconds to import,
a third of ``import legato``.
"""

from __future__ import annotations

from functools import cache


@cache
def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("legato")
    except PackageNotFoundError:  # pragma: no cover - a source tree never installed
        return "0+unknown"
