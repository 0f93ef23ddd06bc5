"""``legato asl``: validate, run and draw Amazon States Language state machines.

``validate`` prints every problem of every file and exits 1 if there is any; ``run`` prints
the output JSON (a failed execution prints its error and cause on stderr and exits 1);
``graph`` prints a Mermaid state diagram. ``validate`` and ``run`` take ``--json``; ``graph``
prints Mermaid text, which is already a format of its own.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

# legato.asl is imported by the commands that use it: every other command starts faster
from legato.cli.common import FAILED, USAGE, App, CliError, load_module
from legato.cli.output import echo, print_json

asl_app = App(
    help="Amazon States Language: validate, run and draw state machines (JSON or YAML).",
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(metavar="FILE", show_default=False,
                                         help="An ASL definition, JSON or YAML.")]


@asl_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE", show_default=False, help="ASL definitions, JSON or YAML.")],
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON array: for each file, \"file\", \"ok\" and its "
                       "\"problems\" (\"path\", \"message\").")] = False,
) -> None:
    """Check definitions; print every problem with its JSON path, exit 1 if there is any.

    Example:

        legato asl validate order.asl.json refund.asl.yaml
    """
    from legato.asl import DefinitionError, load

    results: list[dict[str, Any]] = []
    for file in files:
        try:
            load(file)
        except DefinitionError as exc:
            results.append({"file": str(file), "ok": False, "problems": [
                {"path": p.path, "message": p.message} for p in exc.problems]})
            if not as_json:
                count = len(exc.problems)
                echo(f"{file}: {count} problem{'s' * (count != 1)}")
                for problem in exc.problems:
                    echo(f"  {problem}")
            continue
        results.append({"file": str(file), "ok": True, "problems": []})
        if not as_json:
            echo(f"{file}: ok")
    if as_json:
        print_json(results)
    if not all(r["ok"] for r in results):
        raise typer.Exit(FAILED)


def _handlers(modules: list[str]) -> tuple[dict[str, Callable[..., Any]], Any]:
    """The Task handlers of ``modules`` and their callbacks (a module's ``CALLBACKS``: a
    callable, or a dict of them by state name, resource or function name)."""

    table: dict[str, Callable[..., Any]] = {}
    callbacks: Any = None
    for spec in modules:
        module = load_module(spec)
        answers = getattr(module, "CALLBACKS", None)
        if answers is not None:
            if not (callable(answers) or isinstance(answers, dict)):
                raise CliError(f"{spec}: CALLBACKS must be a function or a dict of functions",
                               USAGE)
            both = isinstance(answers, dict) and isinstance(callbacks, dict)
            callbacks = {**callbacks, **answers} if both else answers
        given = getattr(module, "HANDLERS", None)
        if isinstance(given, dict):
            table.update(given)
            continue
        for name, value in vars(module).items():
            if not name.startswith("_") and inspect.isfunction(value) \
                    and value.__module__ == module.__name__:
                table[name] = value
    return table, callbacks


def _machines(specs: list[str]) -> dict[str, Any]:
    """``NAME=FILE`` pairs: the child machines that startExecution Tasks may start."""
    out: dict[str, Any] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise CliError(f"--machine {spec!r}: give NAME=FILE (the state machine's name,"
                           " as its ARN ends, and its definition)", USAGE)
        out[name] = _machine(Path(file))
    return out


def _machine(file: Path) -> Any:
    from legato.asl import DefinitionError, load

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
             "functions by name, handle Task resources; its CALLBACKS (a function, or a "
             "dict of them by state name) answer .waitForTaskToken Tasks. Repeatable.")] = None,
    machines: Annotated[list[str] | None, typer.Option(
        "--machine", metavar="NAME=FILE", show_default=False,
        help="A child state machine that startExecution Tasks may start: its name (as the "
             "StateMachineArn ends) and its definition. Repeatable.")] = None,
    history: Annotated[bool, typer.Option(
        "--history", help="Also print the history trace on stderr.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: \"status\", \"output\", \"error\" and "
                       "\"cause\" (also when the execution fails).")] = False,
) -> None:
    """Run a state machine in memory (virtual clock: waits do not block); print its output.

    Example:

        legato asl run order.asl.json --input '{"id": 1}' --handlers order_handlers

        legato asl run parent.asl.json --machine Child=child.asl.json
    """
    machine = _machine(file)
    children = _machines(machines or [])
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
    from legato.asl import HandlerError, execute

    table, callbacks = _handlers(handlers or [])
    try:
        result = execute(machine, value, handlers=table, callbacks=callbacks,
                         machines=children)
    except HandlerError as exc:
        raise CliError(str(exc), USAGE) from None
    if history:
        for line in result.trace():
            echo(line, err=True)
    if as_json:
        print_json({"status": result.status, "output": result.output, "error": result.error,
                    "cause": result.cause})
    if result.status != "SUCCEEDED":
        raise CliError(f"execution {result.status}: {result.error}: {result.cause}", FAILED)
    if not as_json:
        print_json(result.output)


@asl_app.command("graph")
def graph(file: FileArg) -> None:
    """Print a Mermaid state diagram of the machine (Mermaid text: no --json).

    Example:

        legato asl graph order.asl.json > order.mmd
    """
    from legato.asl.graph import mermaid

    for line in mermaid(_machine(file)).split("\n"):  # labels hold no newline: one per line
        echo(line)
