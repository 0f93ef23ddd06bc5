"""Imports only point down the layers of docs/architecture.md, at the top of a module or
inside a function alike (only ``if TYPE_CHECKING:`` blocks, which never run, are exempt).

    interfaces   legato (the package), engine, handle, inbox, schedules, cli, testing, ...
    worker       legato.worker
    formats      legato.asl (run through the runtime's WorkflowContext)
    runtime | store   (side by side: neither imports the other)
    domain       legato.domain, legato.errors, legato.clock, legato._version
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

DOMAIN, RUNTIME, STORE, FORMATS, WORKER, INTERFACES = (
    "domain", "runtime", "store", "formats", "worker", "interfaces")
LEVEL = {DOMAIN: 0, RUNTIME: 1, STORE: 1, FORMATS: 2, WORKER: 3, INTERFACES: 4}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "legato":
        return None
    if len(parts) == 1:
        return INTERFACES
    top = parts[1]
    if top in ("domain", "errors", "clock", "_version"):
        return DOMAIN
    return {"runtime": RUNTIME, "store": STORE, "asl": FORMATS,
            "worker": WORKER}.get(top, INTERFACES)


def _module_of(path: Path) -> str:
    parts = path.with_suffix("").relative_to(SRC).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    """(module, line) of every import that can run (not under ``if TYPE_CHECKING:``)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found.extend((f"{node.module}.{alias.name}", node.lineno) for alias in node.names
                         if node.module == "legato")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _violations() -> list[str]:
    bad = []
    for path in sorted((SRC / "legato").rglob("*.py")):
        me = _module_of(path)
        mine = layer(me)
        assert mine is not None
        for target, line in _imports(ast.parse(path.read_text(), str(path))):
            theirs = layer(target)
            if theirs is None or theirs == mine:
                continue
            if LEVEL[theirs] >= LEVEL[mine]:
                bad.append(f"{path.relative_to(SRC)}:{line}: {me} ({mine}) imports "
                           f"{target} ({theirs})")
    return bad


def test_imports_only_point_down() -> None:
    assert _violations() == []


def test_the_check_sees_an_import_that_points_up(tmp_path: Path) -> None:
    tree = ast.parse("def f():\n    from legato.engine import Engine\n"
                     "if TYPE_CHECKING:\n    from legato.worker.hub import Hub\n")
    assert _imports(tree) == [("legato.engine", 2)]
    assert layer("legato.store.sqlite") == STORE and layer("legato.runtime.run") == RUNTIME
    assert LEVEL[layer("legato.engine") or ""] > LEVEL[STORE]
