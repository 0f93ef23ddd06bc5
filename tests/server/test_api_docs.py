"""docs/api.md's examples work: every ``sh`` block, in order, against a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from api_support import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_example_of_docs_api_runs(tmp_path: Path) -> None:
    blocks = _BLOCK.findall((ROOT / "docs" / "api.md").read_text())
    assert len(blocks) >= 8
    db = f"sqlite:///{tmp_path / 'claims.db'}"
    proc = ServerProcess(db, modules=[str(ROOT / "examples" / "expense_claims.py")])
    try:
        script = "set -euo pipefail\n" + "\n".join(
            f"echo '--- block {i}'\n{b}" for i, b in enumerate(blocks))
        env = {**os.environ, "API": proc.api, "DB": db,
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              env=env, timeout=180, cwd=tmp_path)
    finally:
        proc.stop()
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert '"status":"COMPLETED"' in out.replace(" ", "") and '"paid":true' in out.replace(
        " ", "")
    assert out.rstrip().endswith("401"), out[-300:]
    assert "Traceback" not in proc.output()
