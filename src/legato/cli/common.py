"""What every CLI command shares: exit codes, the CLI's error, the apps' help, the ``--db`` and
``--json`` options, opening the engine, and parsing what users type (JSON options, durations,
modules to import). Rendering lives in :mod:`legato.cli.output`."""

from __future__ import annotations

import contextlib
import getpass
import importlib
import importlib.util
import json
import os
import sys
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from legato.cli.output import one_line, redact_passwords
from legato.engine import Engine
from legato.errors import LegatoError
from legato.store.url import resolve_url
from legato.worker import settings

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


# --- help --------------------------------------------------------------------------------
#
# Typer's rich help prints a type column for every parameter: ``<bool>`` for each flag (even
# --help), ``<str>`` for each argument (already named by its metavar), ``<int range>`` for an
# int without a metavar. Options that take a value declare their metavar (N, SECONDS, JSON
# ...); the help of flags and arguments is made to show none, here, for every command.


def _no_type(ctx: Any) -> None:
    return None


def _plain(param: Any) -> None:
    """A flag shows no metavar; an argument shows only its name (no ``<str>`` after it)."""
    if isinstance(param, TyperOption) and (param.is_flag or param.count) \
            and param.metavar is None:
        param.metavar = ""
    elif isinstance(param, TyperArgument):
        setattr(param, "display_type_rich", _no_type)  # noqa: B010 - an instance's own


class Command(TyperCommand):
    """A command whose help shows no type placeholders (see :func:`_plain`)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.get_params(ctx):
            _plain(param)
        super().format_help(ctx, formatter)


class Group(TyperGroup):
    """A group (``legato``, ``legato db`` ...) whose help shows no type placeholders."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        for param in self.get_params(ctx):
            _plain(param)
        super().format_help(ctx, formatter)


F = TypeVar("F", bound=Callable[..., Any])


class App(typer.Typer):
    """``typer.Typer`` whose commands and groups are :class:`Command` and :class:`Group`."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("cls", Group)
        options.setdefault("rich_markup_mode", "markdown")
        super().__init__(**options)

    def command(self, *args: Any, **options: Any) -> Callable[[F], F]:
        options.setdefault("cls", Command)
        decorate: Callable[[F], F] = super().command(*args, **options)
        return decorate


# --- options every command takes ---------------------------------------------------------

DbOption = Annotated[
    str | None,
    typer.Option("--db", metavar="URL", show_default=False,
                 help="Database URL: sqlite:///FILE.db or postgresql://... "
                      "(default: $LEGATO_DATABASE_URL, else sqlite:///legato.db)"),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout instead of text."),
]
JsonListOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON array on stdout instead of a table "
                                      "([] when there is nothing)."),
]
ActorOption = Annotated[
    str | None,
    typer.Option("--actor", metavar="USER", show_default=False,
                 help="Who acts, as the operator log records it (default: $LEGATO_ACTOR, "
                      "else your login name)."),
]


def actor(value: str | None) -> str | None:
    """The user a command acts as: ``--actor``, else ``$LEGATO_ACTOR``, else the login name
    (None if the system has none: the action is recorded with no actor). The engine checks
    it (an empty ``--actor`` is an error)."""
    if value is not None:
        return value
    named = os.environ.get("LEGATO_ACTOR")
    if named:
        return named
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container's uid without a passwd entry)
        return None


def db_url(ctx: typer.Context, db: str | None) -> str | None:
    """The command's ``--db``, else the one given before the command name (``legato --db URL
    list``, ``legato schedules --db URL list``), else None (the default URL)."""
    if db:
        return db
    at: Any = ctx
    while at is not None:
        obj = at.obj if isinstance(at.obj, dict) else {}
        value = obj.get("db")
        if isinstance(value, str) and value:
            return value
        at = at.parent
    return None


def remember_db(ctx: typer.Context, db: str | None) -> None:
    """For a group's callback: its ``--db`` applies to the command that follows."""
    if db:
        ctx.ensure_object(dict)
        if isinstance(ctx.obj, dict):
            ctx.obj["db"] = db


def open_engine(url: str | None, **options: Any) -> Engine:
    """``Engine(url, **options)``; any failure to open its database is a :class:`CliError`.

    Stores raise :class:`legato.ConfigError` (``legato.SchemaError`` for a database that a
    read-only open finds missing or behind) for what they anticipate; anything else (a driver
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


@contextlib.contextmanager
def engine_for(ctx: typer.Context, db: str | None, *, read_only: bool = False
               ) -> Iterator[Engine]:
    """A client engine (no workers) on the command's database, shut down afterwards.

    ``read_only``: the command only reads, so it never creates or migrates the database
    (``Engine(url, migrate=False)``): a database that is missing or behind is an error that
    names ``legato db migrate``.
    """
    url = db_url(ctx, db)
    engine = open_engine(url, migrate=False) if read_only else open_engine(url)
    try:
        yield engine
    finally:
        engine.shutdown()


# --- parsing what users type -------------------------------------------------------------


def json_arg(text: str | None, what: str) -> Any:
    """The value of an option given as JSON (None when it is not given)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} is not JSON: {exc.msg} at column {exc.colno}", USAGE) from None


def duration(text: str, option: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w`` (what
    ``LEGATO_*`` variables accept too)."""
    try:
        value = settings.duration(text, option)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise CliError(f"{option} {text!r} is not a duration: give seconds or a number with"
                       " s, m, h, d or w (e.g. 30d)", USAGE)
    return value


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or os.sep in spec or os.path.isdir(spec)


def load_module(spec: str) -> types.ModuleType:
    """Import ``spec``: a dotted module name or a path to a ``.py`` file or a package folder.

    Raises :class:`CliError` (exit code 2) naming the module and the error.
    """
    try:
        if not _is_path(spec):
            return importlib.import_module(spec)
        path = Path(spec).expanduser().resolve()
        if path.is_dir():
            if not (path / "__init__.py").is_file():
                raise CliError(f"cannot import module {spec!r}: {path.name}/ has no __init__.py",
                               USAGE)
            prepend_path(str(path.parent))
            return importlib.import_module(path.name)
        if not path.is_file():
            raise CliError(f"cannot import module {spec!r}: no such file", USAGE)
        name = path.stem
        existing = sys.modules.get(name)
        if existing is not None:
            if getattr(existing, "__file__", None) == str(path):
                return existing
            raise CliError(f"cannot import module {spec!r}: a module named {name!r} is already "
                           "imported from elsewhere; rename the file", USAGE)
        prepend_path(str(path.parent))  # so the file can import its neighbours
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise CliError(f"cannot import module {spec!r}: not a Python source file", USAGE)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    except CliError:
        raise
    except (Exception, SystemExit) as exc:
        raise CliError(f"cannot import module {spec!r}: {type(exc).__name__}: "
                       f"{one_line(str(exc))}", USAGE) from None


def prepend_path(folder: str) -> None:
    """Let modules in ``folder`` be imported (the user's app beside its workflows)."""
    if folder not in sys.path:
        sys.path.insert(0, folder)


def setup_logging(log_level: str) -> None:
    """Log to stderr at ``log_level`` (DEBUG, INFO, WARNING or ERROR), escaped."""
    import logging

    from legato.cli.output import LogFormatter

    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise CliError(f"unknown log level {log_level!r}; use DEBUG, INFO, WARNING or ERROR",
                       USAGE)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def since_time(text: str, now: float) -> float:
    """``--since``: epoch seconds from an ISO 8601 time (UTC when it names no offset) or a
    duration ago (``90m``, ``7d``)."""
    try:
        ago = settings.duration(text, "--since")
    except ValueError:
        pass
    else:
        if ago >= 0:
            return now - ago
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since {text!r} is neither a time (2027-01-04T09:00:00Z) nor a"
                       " duration ago (90m, 12h, 7d)", USAGE) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
