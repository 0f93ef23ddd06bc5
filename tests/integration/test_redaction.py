"""No repr, log line, error or CLI output shows a database password: every path that formats
a URL goes through the one redaction rule (legato.domain.redact)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

import legato
from legato.domain.redact import redact

pytestmark = pytest.mark.postgres

SECRET = "s3cret-Pw"
LEGATO = str(Path(sys.executable).parent / "legato")


def _with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@", 1)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEGATO, *args], capture_output=True, text=True, timeout=60)


def test_the_rule() -> None:
    assert redact(f"postgresql://app:{SECRET}@db/x?sslmode=require") == \
        "postgresql://app:***@db/x?sslmode=require"
    assert redact(f"host=db password={SECRET} user=app") == "host=db password=*** user=app"
    assert redact(f"see postgresql://a:{SECRET}@h/x and postgres://b:{SECRET}@k/y") == \
        "see postgresql://a:***@h/x and postgres://b:***@k/y"


def test_no_path_that_formats_a_url_shows_the_password(
        pg_db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    url = _with_password(pg_db_url)  # trust auth: the server ignores it
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="legato"):
        with pytest.raises(legato.SchemaError) as missing:  # nothing created yet
            legato.Engine(url, migrate=False)
        shown.append(str(missing.value))
        info = legato.inspect_schema(url)
        shown += [info.url, repr(info), str(info.as_dict())]
        engine = legato.Engine(url).launch()
        shown.append(repr(engine))
        engine.shutdown()
        closed = url.replace("127.0.0.1:5432", "127.0.0.1:1").replace(
            "@127.0.0.1/", "@127.0.0.1:1/")
        with pytest.raises(legato.ConfigError) as unreachable:
            legato.Engine(f"{closed}&connect_timeout=2")
        shown.append(str(unreachable.value))
        with pytest.raises(legato.ConfigError) as unsupported:
            legato.Engine(f"mysql://app:{SECRET}@db/x")
        shown.append(str(unsupported.value))
    shown += [r.getMessage() for r in caplog.records]
    for args in (["db", "migrate", "--db", url], ["db", "migrate", "--dry-run", "--json",
                                                   "--db", url],
                 ["list", "--db", url], ["list", "--db", closed],
                 ["start", "nope", "--db", url]):
        done = _cli(*args)
        shown += [done.stdout, done.stderr]
    text = "\n".join(shown)
    assert SECRET not in text
    assert "postgres:***@" in text
