"""`corral up --domain` driven by the official SDK in its HTTPS-only E2B_DOMAIN mode.

The SDK runs in a child process with exactly the variables `corral up` printed (E2B_API_KEY,
E2B_DOMAIN with the HTTPS port, SSL_CERT_FILE for the local CA), so it reaches
`https://api.{domain}` and `https://{port}-{id}.{domain}` by name and verifies the certificate
like a user's program would; the only addition is HTTPS_PROXY, a tunnel proxy that resolves
the test domain to 127.0.0.1 (loopback_names.py), since the SDK resolves names in Rust.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Platform, remove_everything
from tests.e2e.launch import start_corral_up, stop_corral_up
from tests.e2e.loopback_names import LoopbackNames, loopback_names

pytestmark = [pytest.mark.slow, pytest.mark.root]

DOMAIN = "corral.test"
RUNTIME = "crun"
INSTANCE, POOL, IFNAME_PREFIX = "corraltls", "10.247.0.0/16", "ctl"
"""Host resources of this platform, apart from the other tests' (conftest.py)."""


@pytest.fixture(scope="module")
def domain_platform(
    base_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    if os.geteuid() != 0 or shutil.which(RUNTIME) is None:
        pytest.skip(f"corral up needs root and {RUNTIME}")
    data_dir = tmp_path_factory.mktemp("corral-up-tls")
    proc, exports = start_corral_up(
        runtime=RUNTIME,
        data_dir=data_dir,
        base_rootfs=base_rootfs,
        domain=DOMAIN,
        instance=INSTANCE,
        pool=POOL,
        ifname_prefix=IFNAME_PREFIX,
    )
    yield Platform(proc, data_dir, exports)
    stop_corral_up(proc)
    asyncio.run(
        remove_everything(
            data_dir,
            base_rootfs,
            RUNTIME,
            instance=INSTANCE,
            pool=POOL,
            ifname_prefix=IFNAME_PREFIX,
        )
    )


@pytest.fixture(scope="module")
def names() -> Iterator[LoopbackNames]:
    with loopback_names(DOMAIN, "wrong.test") as running:
        yield running


def run_sdk(script: str, exports: dict[str, str], names: LoopbackNames) -> str:
    """`script` in a fresh interpreter whose environment is the exports plus the name tunnel."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("E2B_", "SSL_")) and not k.lower().endswith(("_proxy", "proxy"))
    }
    env |= exports | {"HTTPS_PROXY": names.url}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_exports_are_domain_mode(domain_platform: Platform) -> None:
    exports = domain_platform.exports
    assert set(exports) == {"E2B_API_KEY", "E2B_DOMAIN", "SSL_CERT_FILE"}
    domain, _, port = exports["E2B_DOMAIN"].partition(":")
    assert domain == DOMAIN and port.isdigit()
    bundle = Path(exports["SSL_CERT_FILE"]).read_text()
    ca = (domain_platform.data_dir / "tls" / "ca.pem").read_text()
    assert bundle.endswith(ca) and bundle.count("BEGIN CERTIFICATE") > 1  # system CAs kept


FLOWS = """
    import httpx
    from e2b import Sandbox, SandboxQuery

    sbx = Sandbox.create(metadata={"suite": "tls"}, envs={"GREETING": "hello"})
    print(sbx.sandbox_id)
    print(sbx.commands.run("echo $GREETING over https from $(whoami)").stdout.strip())
    sbx.files.write("/home/user/tls.txt", "written through E2B_DOMAIN")
    print(sbx.files.read("/home/user/tls.txt"))
    print(any(e.name == "tls.txt" for e in sbx.files.list("/home/user")))
    listed = Sandbox.list(query=SandboxQuery(metadata={"suite": "tls"})).next_items()
    print([s.sandbox_id for s in listed] == [sbx.sandbox_id])
    # A pre-signed link carries no routing headers: only its host names the sandbox.
    # httpx takes HTTPS_PROXY and SSL_CERT_FILE from the environment too.
    print(httpx.get(sbx.download_url("/home/user/tls.txt")).text)
    print(sbx.get_host(8080))
    print(sbx.kill())
    print(Sandbox.kill(sbx.sandbox_id))
"""


def test_sdk_flows_through_e2b_domain(domain_platform: Platform, names: LoopbackNames) -> None:
    out = run_sdk(FLOWS, domain_platform.exports, names).splitlines()
    sandbox_id = out[0]
    e2b_domain = domain_platform.exports["E2B_DOMAIN"]
    assert out[1:] == [
        "hello over https from user",
        "written through E2B_DOMAIN",
        "True",
        "True",
        "written through E2B_DOMAIN",
        f"8080-{sandbox_id}.{e2b_domain}",
        "True",
        "False",
    ]
    # Everything went by name through the one HTTPS port: the API and the sandbox's envd.
    assert f"api.{DOMAIN}" in names.hosts
    assert f"49983-{sandbox_id}.{DOMAIN}" in names.hosts


LIST = """
    from e2b import Sandbox

    try:
        Sandbox.list().next_items()
    except Exception as exc:
        print(type(exc).__name__, exc)
    else:
        print("accepted")
"""


def test_certificate_is_verified(domain_platform: Platform, names: LoopbackNames) -> None:
    exports = domain_platform.exports
    assert run_sdk(LIST, exports, names) == "accepted\n"
    exports = exports | {"E2B_CONNECTION_RETRIES": "0"}  # a refusal is final: fail at once
    # Without the local CA the SDK refuses the server.
    untrusted = {k: v for k, v in exports.items() if k != "SSL_CERT_FILE"}
    assert "UnknownIssuer" in run_sdk(LIST, untrusted, names)
    # The same server reached by a name its certificate does not cover.
    port = exports["E2B_DOMAIN"].partition(":")[2]
    wrong = exports | {"E2B_DOMAIN": f"wrong.test:{port}"}
    assert 'certificate not valid for name "api.wrong.test"' in run_sdk(LIST, wrong, names)
