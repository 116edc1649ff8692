"""Large transfers stream through envd: its peak memory does not grow with the file size.

Runs against a fresh envd so that its peak resident set (`VmHWM`) reflects only this test.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2b import Sandbox

from tests.envd.conftest import Envd, sdk_opts, start_envd, stop_envd

MIB = 1024 * 1024
SIZE = 256 * MIB
ALLOWED_GROWTH = 48 * MIB


@pytest.fixture
def fresh_envd() -> Iterator[Envd]:
    server = start_envd(token="mem-token")
    yield server
    stop_envd(server)


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _pieces(seed: bytes, total: int, piece: int = MIB) -> Iterator[bytes]:
    block = hashlib.sha256(seed).digest() * (piece // 32)
    for _ in range(total // piece):
        yield block


def test_big_upload_and_download_use_bounded_memory(fresh_envd: Envd, workdir: str) -> None:
    sbx = Sandbox(**sdk_opts(fresh_envd))  # type: ignore[arg-type]
    sbx.files.write(f"{workdir}/warmup", b"w" * MIB)
    assert len(sbx.files.read(f"{workdir}/warmup", format="bytes")) == MIB
    baseline = _peak_rss(fresh_envd.proc.pid)

    path = f"{workdir}/big.bin"
    sbx.files.write(path, _pieces(b"a", SIZE))  # iterable: streamed octet-stream
    sbx.files.write(f"{workdir}/big.gz", _pieces(b"b", SIZE), gzip=True)
    assert os.path.getsize(path) == SIZE
    assert os.path.getsize(f"{workdir}/big.gz") == SIZE

    received = 0
    digest = hashlib.sha256()
    for piece in sbx.files.read(path, format="stream"):
        received += len(piece)
        digest.update(piece)
    assert received == SIZE
    expected = hashlib.sha256()
    for piece in _pieces(b"a", SIZE):
        expected.update(piece)
    assert digest.hexdigest() == expected.hexdigest()
    for _ in sbx.files.read(f"{workdir}/big.gz", format="stream", gzip=True):
        pass

    growth = _peak_rss(fresh_envd.proc.pid) - baseline
    assert growth < ALLOWED_GROWTH, f"envd peak memory grew by {growth // MIB} MiB"
