"""Databases for the control plane's tests: a temporary SQLite file, or a throwaway PostgreSQL.

`postgres_url` starts one PostgreSQL cluster per test session (initdb in a temporary directory,
loopback only, trust authentication, fsync off) and stops and removes it at the end.
`database_url` gives each test an empty database of each kind; PostgreSQL tests are skipped
only when the server binaries are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import free_port

PG_USER = "postgres"


def postgres_bindir() -> Path | None:
    """Where initdb, pg_ctl and createdb are: `CORRAL_TEST_PG_BIN`, PATH, or Debian's dirs."""
    candidates: list[Path] = []
    if os.environ.get("CORRAL_TEST_PG_BIN"):
        candidates.append(Path(os.environ["CORRAL_TEST_PG_BIN"]))
    if (found := shutil.which("pg_ctl")) is not None:
        candidates.append(Path(found).resolve().parent)  # /usr/local/bin/pg_ctl is a symlink
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "createdb")):
            return bindir
    return None


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root: the cluster belongs to the `postgres` system user then.
    return ["runuser", "-u", PG_USER, "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """`postgresql+asyncpg://` URL of database `corral` in a cluster private to this session."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="corral-pg-"))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER)
        shutil.chown(sockets, PG_USER)
    port = free_port()
    try:
        subprocess.run(
            _as_postgres(
                [
                    *(str(bindir / "initdb"), "-D", str(data), "-U", PG_USER),
                    *("--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"),
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-k {sockets} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            _as_postgres(
                [
                    *(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log)),
                    *("-o", options, "-w", "-t", "60", "start"),
                ]
            ),
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace")
        if log.exists():
            detail += log.read_text(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {detail}") from exc
    try:
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "corral"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{port}/corral"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _connect_args(url: str) -> dict[str, object]:
    parsed = make_url(url)
    return {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "database": parsed.database,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database for one test: a SQLite file, or a new database in the session cluster."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(**_connect_args(server))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(**_connect_args(server))
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
