"""An S3-compatible server on loopback for the S3 artifact store.

It is moto's standalone server (`moto_server`, from the `moto[server]` dev dependency) run as
a process of its own: the S3 HTTP API with path-style buckets, spoken to over real HTTP by
boto3. MinIO would be the more faithful choice but is packaged neither by Debian nor on PyPI,
and the store uses nothing past plain objects and multipart uploads, which moto implements.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_http

MOTO_SERVER = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "moto_server"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    region: str = "us-east-1"

    def url(self, bucket: str, prefix: str = "") -> str:
        path = f"{bucket}/{prefix}".rstrip("/")
        return f"s3://{path}?endpoint={self.endpoint}&region={self.region}"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    binary = str(MOTO_SERVER) if MOTO_SERVER.exists() else shutil.which("moto_server")
    if binary is None:
        pytest.skip("needs moto_server (the dev extra installs moto[server])")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", timeout=30, proc=proc)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials from the environment (boto3's usual chain), and no instance-metadata lookup:
    boto3 must never look for credentials off this host."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "corral-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "corral-test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
