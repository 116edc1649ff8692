"""envd's orchestrator-facing endpoints: `POST /init`, `GET /envs`, `GET /metrics`, `/health`.

`/init` changes envd's token and defaults, so each test here gets its own envd process.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from e2b import AuthenticationException, Sandbox

from tests.envd.conftest import Envd, sdk_opts, start_envd, stop_envd


@pytest.fixture
def open_envd() -> Iterator[Envd]:
    """An envd started without an access token, as before the orchestrator's first /init."""
    server = start_envd(token=None)
    yield server
    stop_envd(server)


@pytest.fixture
def secured_envd() -> Iterator[Envd]:
    server = start_envd(token="first-token")
    yield server
    stop_envd(server)


def _init(envd: Envd, body: object, token: str | None = None) -> httpx.Response:
    headers = {"x-access-token": token} if token else {}
    return httpx.post(f"{envd.url}/init", json=body, headers=headers)


def _sbx(envd: Envd, token: str | None) -> Sandbox:
    return Sandbox(**sdk_opts(envd, token=token))  # type: ignore[arg-type]


def _stamp(seconds_from_now: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat()


def test_init_env_vars_reach_processes(open_envd: Envd) -> None:
    r = _init(open_envd, {"envVars": {"FOO": "from init", "BAR": "b"}})
    assert r.status_code == 204
    assert r.content == b""
    sbx = _sbx(open_envd, None)
    assert sbx.commands.run("echo $FOO").stdout == "from init\n"
    # A command's own envs win over the sandbox's; later /inits merge into what is there.
    assert sbx.commands.run("echo $FOO", envs={"FOO": "own"}).stdout == "own\n"
    assert _init(open_envd, {"envVars": {"BAZ": "z"}}).status_code == 204
    assert sbx.commands.run('echo "$FOO|$BAR|$BAZ"').stdout == "from init|b|z\n"
    assert httpx.get(f"{open_envd.url}/envs").json() == {"FOO": "from init", "BAR": "b", "BAZ": "z"}


def test_init_sets_the_first_token(open_envd: Envd) -> None:
    assert httpx.get(f"{open_envd.url}/envs").status_code == 200
    assert _init(open_envd, {"accessToken": "brand-new"}).status_code == 204
    assert httpx.get(f"{open_envd.url}/envs").status_code == 401
    r = httpx.get(f"{open_envd.url}/envs", headers={"x-access-token": "brand-new"})
    assert r.status_code == 200
    with pytest.raises(AuthenticationException):
        _sbx(open_envd, None).commands.run("true")
    assert _sbx(open_envd, "brand-new").commands.run("echo ok").stdout == "ok\n"


def test_init_token_rotation(secured_envd: Envd) -> None:
    # Without the current token nothing changes.
    r = _init(secured_envd, {"accessToken": "second-token", "envVars": {"X": "1"}})
    assert r.status_code == 401
    assert r.json()["code"] == 401
    r = _init(secured_envd, {"accessToken": "second-token"}, token="wrong")
    assert r.status_code == 401
    assert (
        httpx.get(f"{secured_envd.url}/envs", headers={"x-access-token": "first-token"}).json()
        == {}
    )

    r = _init(secured_envd, {"accessToken": "second-token"}, token="first-token")
    assert r.status_code == 204
    old = {"x-access-token": "first-token"}
    new = {"x-access-token": "second-token"}
    assert httpx.get(f"{secured_envd.url}/envs", headers=old).status_code == 401
    assert httpx.get(f"{secured_envd.url}/envs", headers=new).status_code == 200
    assert _sbx(secured_envd, "second-token").commands.run("echo rotated").stdout == "rotated\n"
    with pytest.raises(AuthenticationException):
        _sbx(secured_envd, "first-token").files.read("/etc/hostname")

    # Signed URLs follow the new token too.
    sbx = _sbx(secured_envd, "second-token")
    assert httpx.get(sbx.download_url("/etc/hostname")).status_code == 200
    assert (
        httpx.get(_sbx(secured_envd, "first-token").download_url("/etc/hostname")).status_code
        == 401
    )


def test_init_with_the_current_token_in_the_body(secured_envd: Envd) -> None:
    """E2B's fast path: re-sending the current token proves the caller knows it."""
    r = _init(secured_envd, {"accessToken": "first-token", "envVars": {"A": "a"}})
    assert r.status_code == 204
    r = httpx.get(f"{secured_envd.url}/envs", headers={"x-access-token": "first-token"})
    assert r.json() == {"A": "a"}


def test_init_keeps_or_clears_the_token(secured_envd: Envd) -> None:
    auth = "first-token"
    assert _init(secured_envd, {"envVars": {"K": "v"}}, token=auth).status_code == 204
    assert httpx.get(f"{secured_envd.url}/envs").status_code == 401  # key absent: token kept
    assert _init(secured_envd, {"accessToken": None}, token=auth).status_code == 204
    assert httpx.get(f"{secured_envd.url}/envs").status_code == 200  # explicit null: cleared


def test_stale_init_is_ignored(open_envd: Envd) -> None:
    assert _init(open_envd, {"envVars": {"V": "new"}, "timestamp": _stamp()}).status_code == 204
    late = {"envVars": {"V": "old", "W": "w"}, "timestamp": _stamp(-60)}
    assert _init(open_envd, late).status_code == 204
    assert httpx.get(f"{open_envd.url}/envs").json() == {"V": "new"}
    newer = {"envVars": {"V": "newer"}, "timestamp": _stamp(1)}
    assert _init(open_envd, newer).status_code == 204
    assert httpx.get(f"{open_envd.url}/envs").json() == {"V": "newer"}


def test_init_default_user_and_workdir(
    open_envd: Envd, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("envd-workdir")
    os.chmod(workdir, 0o777)
    try:
        body = {"defaultUser": "root", "defaultWorkdir": str(workdir)}
        assert _init(open_envd, body).status_code == 204
        sbx = _sbx(open_envd, None)
        assert sbx.commands.run("whoami; pwd").stdout == f"root\n{workdir}\n"
        info = sbx.files.write("relative.txt", "in the workdir")
        assert info.path == f"{workdir}/relative.txt"
        assert os.stat(info.path).st_uid == 0
        assert sbx.files.read("relative.txt") == "in the workdir"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"envVars": {"A": 1}}',
        b'{"envVars": ["A"]}',
        b'{"envVars": {"B": "b"}, "accessToken": 5}',
        b'{"envVars": {"B": "b"}, "defaultUser": "no-such-user-anywhere"}',
        b'{"envVars": {"B": "b"}, "defaultWorkdir": "relative/dir"}',
        b'{"envVars": {"B": "b"}, "timestamp": "yesterday"}',
    ],
)
def test_bad_init_is_400_and_changes_nothing(open_envd: Envd, body: bytes) -> None:
    r = httpx.post(
        f"{open_envd.url}/init", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["code"] == 400
    assert httpx.get(f"{open_envd.url}/envs").json() == {}


def test_empty_init_is_fine(open_envd: Envd) -> None:
    assert httpx.post(f"{open_envd.url}/init").status_code == 204


def test_envs_and_metrics_need_the_token(envd: Envd) -> None:
    for route in ("/envs", "/metrics"):
        assert httpx.get(f"{envd.url}{route}").status_code == 401
        assert httpx.get(f"{envd.url}{route}", headers={"x-access-token": "no"}).status_code == 401
    assert httpx.get(f"{envd.url}/health").status_code == 204  # never needs it


def test_metrics(envd: Envd) -> None:
    headers = {"x-access-token": envd.token or ""}
    first = httpx.get(f"{envd.url}/metrics", headers=headers)
    assert first.status_code == 200
    m = first.json()
    assert set(m) == {
        "ts",
        "cpu_count",
        "cpu_used_pct",
        "mem_total_mib",
        "mem_used_mib",
        "mem_total",
        "mem_used",
        "disk_used",
        "disk_total",
    }
    assert abs(m["ts"] - time.time()) < 5
    assert 1 <= m["cpu_count"] <= (os.cpu_count() or 1)
    assert 0 <= m["cpu_used_pct"] <= 100
    assert 0 < m["mem_used"] <= m["mem_total"]
    assert m["mem_total_mib"] == m["mem_total"] // (1024 * 1024)
    assert m["mem_used_mib"] == m["mem_used"] // (1024 * 1024)
    disk = shutil.disk_usage("/")
    assert m["disk_total"] == disk.total
    assert 0 < m["disk_used"] <= m["disk_total"]
    second = httpx.get(f"{envd.url}/metrics", headers=headers).json()
    assert 0 <= second["cpu_used_pct"] <= 100


def test_unknown_routes_are_json_errors(envd: Envd) -> None:
    r = httpx.get(f"{envd.url}/nope", headers={"x-access-token": envd.token or ""})
    assert r.status_code == 404
    assert r.json()["code"] == 404
    r = httpx.delete(f"{envd.url}/files", headers={"x-access-token": envd.token or ""})
    assert r.status_code == 405
    assert r.json()["code"] == 405


def test_health_answers_as_before_anything_is_loaded(open_envd: Envd) -> None:
    """`GET /health` is answered before Starlette is loaded (`app.py`), in the same shape."""
    for method in ("GET", "HEAD"):
        r = httpx.request(method, f"{open_envd.url}/health")
        assert r.status_code == 204
        assert r.headers["cache-control"] == "no-store"
        assert "content-type" not in r.headers and "content-length" not in r.headers
        assert r.content == b""
    r = httpx.post(f"{open_envd.url}/health")
    assert r.status_code == 405
    assert r.json() == {"code": 405, "message": "Method Not Allowed"}
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}
