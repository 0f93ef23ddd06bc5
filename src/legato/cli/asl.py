"""``legato asl``: validate, run and draw Amazon States Language state machines.

``validate`` prints every problem of every file and exits 1 if there is any; ``run`` prints
the output JSON (a failed execution prints its error and cause on stderr and exits 1);
``graph`` prints a Mermaid state diagram.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from legato.asl import DefinitionError, HandlerError, execute, load
from legato.asl.graph import mermaid
from legato.cli.common import FAILED, USAGE, CliError

asl_app = typer.Typer(
    help="Amazon States Language: validate, run and draw state machines (JSON or YAML).",
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(metavar="FILE", show_default=False,
                                         help="An ASL definition, JSON or YAML.")]


@asl_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE...", show_default=False, help="ASL definitions, JSON or YAML.")],
) -> None:
    """Check definitions; print every problem with its JSON path, exit 1 if there is any.

    Example:

        legato asl validate order.asl.json refund.asl.yaml
    """
    bad = 0
    for file in files:
        try:
            load(file)
        except DefinitionError as exc:
            bad += 1
            count = len(exc.problems)
            print(f"{file}: {count} problem{'s' * (count != 1)}")
            for problem in exc.problems:
                print(f"  {problem}")
            continue
        print(f"{file}: ok")
    if bad:
        raise typer.Exit(FAILED)


def _handlers(modules: list[str]) -> dict[str, Callable[..., Any]]:
    from legato.cli.worker import load_module

    table: dict[str, Callable[..., Any]] = {}
    for spec in modules:
        module = load_module(spec)
        given = getattr(module, "HANDLERS", None)
        if isinstance(given, dict):
            table.update(given)
            continue
        for name, value in vars(module).items():
            if not name.startswith("_") and inspect.isfunction(value) \
                    and value.__module__ == module.__name__:
                table[name] = value
    return table


def _machine(file: Path) -> Any:
    try:
        return load(file)
    except DefinitionError as exc:
        raise CliError(str(exc).replace("\n", "; "), USAGE) from None


@asl_app.command("run")
def run(
    file: FileArg,
    input_json: Annotated[str, typer.Option(
        "--input", "-i", metavar="JSON",
        help="The execution input as JSON, or @FILE to read it from a file.")] = "{}",
    handlers: Annotated[list[str] | None, typer.Option(
        "--handlers", metavar="MODULE", show_default=False,
        help="A module (dotted name or .py path) whose HANDLERS dict, or else whose "
             "functions by name, handle Task resources. Repeatable.")] = None,
    history: Annotated[bool, typer.Option(
        "--history", help="Also print the history trace on stderr.")] = False,
) -> None:
    """Run a state machine in memory (virtual clock: waits do not block); print its output.

    Example:

        legato asl run order.asl.json --input '{"id": 1}' --handlers order_handlers
    """
    machine = _machine(file)
    text = input_json
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read the input file {text[1:]}: {exc.strerror}",
                           USAGE) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--input is not JSON: {exc}", USAGE) from None
    try:
        result = execute(machine, value, handlers=_handlers(handlers or []))
    except HandlerError as exc:
        raise CliError(str(exc), USAGE) from None
    if history:
        for line in result.trace():
            print(line, file=sys.stderr)
    if result.status != "SUCCEEDED":
        raise CliError(f"execution {result.status}: {result.error}: {result.cause}", FAILED)
    print(json.dumps(result.output, indent=2, ensure_ascii=False))


@asl_app.command("graph")
def graph(file: FileArg) -> None:
    """Print a Mermaid state diagram of the machine.

    Example:

        legato asl graph order.asl.json > order.mmd
    """
    print(mermaid(_machine(file)))
