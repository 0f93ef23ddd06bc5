"""The package as a user installs it: a wheel built from this tree, installed into a fresh
virtual environment without dev extras (and without the PostgreSQL extra), offline from the
wheelhouse that ``make`` builds during set-up. It catches package data left out of the wheel
(the SQL migrations), a dependency used but not declared, and a broken entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import legato

pytestmark = pytest.mark.acceptance

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"  # built by `make` (see the Makefile)

WORKFLOW = '''
import sys
import legato

calls = []

@legato.step(retry=legato.RetryPolicy(max_attempts=3, initial_interval=0.01))
def charge(order: str) -> str:
    calls.append(order)
    if len(calls) == 1:
        raise ConnectionError("flaky provider")
    return f"charged {order}"

@legato.workflow(name="order")
def order(ctx: legato.WorkflowContext, order_id: str) -> dict:
    return {"payment": charge(order_id), "version": legato.__version__}

with legato.Engine(sys.argv[1]) as engine:
    print(engine.start(order, "o-1", workflow_id="o-1").result(timeout=30))
print([e["type"] for e in engine.handle("o-1").history()])
try:
    legato.Engine("postgresql://app:s3cret@127.0.0.1/app")
except legato.ConfigError as exc:
    print("postgres:", exc)
'''

ASL = '''{"StartAt": "Greet", "States": {"Greet": {"Type": "Pass",
  "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"}, "End": true}}}'''


def _run(args: list[str], cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel of this tree installed; returns its bin folder."""
    if not WHEELHOUSE.is_dir():
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: `make test` builds it during set-up")
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy, so the build writes nothing into the work tree
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--no-index", "--wheel-dir", str(dist), str(source)], tmp)
    wheels = list(dist.glob("legato-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-index",
          "--find-links", str(WHEELHOUSE), str(wheels[0])], tmp)
    return bin_dir


def test_the_wheel_carries_its_data_licence_and_metadata(installed: Path) -> None:
    wheel = next((installed.parent.parent / "dist").glob("legato-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "legato/py.typed" in names
    for backend in ("sqlite", "postgres"):
        assert any(n.startswith(f"legato/store/sql/{backend}/001_") for n in names), backend
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.endswith(".dist-info/licenses/NOTICE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Provides-Extra: postgres" in metadata
    assert f"Version: {legato.__version__}" in metadata


def test_an_example_workflow_runs_from_the_installed_wheel(installed: Path,
                                                           tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(WORKFLOW)
    out = _run([str(installed / "python"), "app.py", f"sqlite:///{tmp_path / 'app.db'}"],
               tmp_path)
    assert f"{{'payment': 'charged o-1', 'version': '{legato.__version__}'}}" in out
    assert "'StepFailed', 'StepCompleted'" in out
    # no dev extras and no postgres extra: a postgresql:// URL names the extra to install
    assert "pip install 'legato[postgres]'" in out and "s3cret" not in out
    probe = "import importlib.util as u; print(u.find_spec('psycopg'), u.find_spec('pytest'))"
    assert _run([str(installed / "python"), "-c", probe], tmp_path).split() == ["None", "None"]


def test_the_cli_and_asl_work_from_the_installed_wheel(installed: Path,
                                                       tmp_path: Path) -> None:
    legato_cmd = str(installed / "legato")
    assert "worker" in _run([legato_cmd, "--help"], tmp_path)
    assert _run([legato_cmd, "--version"], tmp_path).strip() == f"legato {legato.__version__}"
    (tmp_path / "greet.asl.json").write_text(ASL)
    _run([legato_cmd, "asl", "validate", "greet.asl.json"], tmp_path)
    out = _run([legato_cmd, "asl", "run", "greet.asl.json", "--input", '{"name": "Ada"}'],
               tmp_path)
    assert "hello Ada" in out
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert "schema version" in _run([legato_cmd, "db", "migrate", "--db", db], tmp_path)
