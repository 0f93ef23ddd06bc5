"""legato's version: one source, the installed package's metadata (pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION: str = version("legato")
except PackageNotFoundError:  # pragma: no cover - imported from a source tree never installed
    VERSION = "0+unknown"
