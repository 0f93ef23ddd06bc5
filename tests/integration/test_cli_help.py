"""The ``legato`` command's help and shell completion: every command's help is clean (no type
placeholders such as ``<bool>``), every command that prints has ``--json``, completion scripts
and completions come from the installed ``legato`` entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from legato.cli.main import app, main

#: what typer's help shows for a parameter without a metavar
PLACEHOLDERS = ("<bool>", "<str>", "<int", "<float", "<text>", "<path>", "<list", "<Path")
#: commands that print but have no --json: a worker prints logs until a signal; asl graph
#: prints Mermaid text (a format of its own)
NO_JSON = {("worker",), ("server",), ("asl", "graph")}
LEGATO = Path(sys.executable).parent / "legato"


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``command``, with its path (the root is ``()``)."""
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _commands(sub, (*path, name))
    return found


ALL = _commands(typer.main.get_command(app))


def _help(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as end:
        main([*args, "--help"])
    out, err = capsys.readouterr()
    assert end.value.code in (0, None), err
    return out


def test_every_command_is_walked() -> None:
    paths = {p for p, _ in ALL}
    for expected in [(), ("worker",), ("list",), ("db",), ("db", "migrate"), ("asl",),
                     ("asl", "run"), ("tasks",), ("tasks", "claim"), ("users",),
                     ("users", "add"), ("schedules",), ("schedules", "pause"), ("queues",),
                     ("circuits",)]:
        assert expected in paths, expected
    assert len(paths) >= 30


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=lambda p: " ".join(p) or "legato")
def test_help_shows_no_type_placeholders(path: tuple[str, ...],
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide: wrapping cannot hide a placeholder
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    text = _help(path, capsys)
    assert f"Usage: legato {' '.join(path)}".rstrip() in text, text
    for placeholder in PLACEHOLDERS:
        assert placeholder not in text, (placeholder, text)
    assert "--help" in text


@pytest.mark.parametrize("path", [p for p, c in ALL if not hasattr(c, "commands")],
                         ids=lambda p: " ".join(p))
def test_every_command_that_prints_has_json(path: tuple[str, ...]) -> None:
    command = dict(ALL)[path]
    options = {o for param in command.params for o in getattr(param, "opts", [])}
    assert ("--json" in options) == (path not in NO_JSON), (path, options)


def test_root_help_through_the_entry_point_is_clean() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    r = subprocess.run([str(LEGATO), "--help"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--show-completion" in r.stdout and "--install-completion" in r.stdout
    for placeholder in PLACEHOLDERS:
        assert placeholder not in r.stdout, (placeholder, r.stdout)


# --- completion ---------------------------------------------------------------------------


def _completion_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_LEGATO_COMPLETE")}
    # typer: --show-completion SHELL names the shell instead of detecting the running one
    env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    env.update(extra)
    return env


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_show_completion_prints_a_script_for_legato(shell: str, tmp_path: Path) -> None:
    home = tmp_path / "home"  # were anything installed, it would be here, not in ~
    home.mkdir()
    r = subprocess.run([str(LEGATO), "--show-completion", shell],
                       env=_completion_env(HOME=str(home)), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "_LEGATO_COMPLETE" in r.stdout and "legato" in r.stdout
    assert list(home.iterdir()) == []  # showing installs nothing


@pytest.mark.parametrize(("words", "cword", "expected"), [
    ("legato li", 1, ["list"]),
    ("legato s", 1, ["schedules", "server", "show", "signal", "start"]),
    ("legato db m", 2, ["migrate"]),
    ("legato list --js", 2, ["--json"]),
])
def test_completion_of_command_names(words: str, cword: int, expected: list[str]) -> None:
    env = _completion_env(_LEGATO_COMPLETE="complete_bash", COMP_WORDS=words,
                          COMP_CWORD=str(cword))
    r = subprocess.run([str(LEGATO)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == expected
