"""The S3 artifact store and a node's cache of it, against an S3-compatible server on loopback
(tests/templates/s3.py: moto's standalone server, as no MinIO comes from Debian or PyPI)."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from corral.templates.cache import FetchCache
from corral.templates.errors import ArtifactNotFound, TemplateError
from corral.templates.s3store import PART_SIZE, S3Store
from corral.templates.store import open_store
from tests.conftest import free_port
from tests.templates.conftest import MakeBuilder, finish
from tests.templates.s3 import S3Server

pytestmark = pytest.mark.usefixtures("aws_env")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _client(server: S3Server) -> Any:
    return boto3.client("s3", endpoint_url=server.endpoint, region_name=server.region)


@pytest.fixture
def bucket(s3_server: S3Server, aws_env: None) -> str:
    name = f"corral-{secrets.token_hex(4)}"
    _client(s3_server).create_bucket(Bucket=name)
    return name


async def test_round_trip_under_a_prefix(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    store = open_store(s3_server.url(bucket, "cluster-a/"))
    assert isinstance(store, S3Store)
    assert not await store.exists("files/x")
    assert await store.put("files/x", _chunks(b"he", b"llo")) == 5
    assert await store.exists("files/x")
    listed = _client(s3_server).list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["cluster-a/files/x"]
    await store.fetch("files/x", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"hello"
    await store.delete("files/x")
    assert not await store.exists("files/x")
    with pytest.raises(ArtifactNotFound):
        await store.fetch("files/x", tmp_path / "gone")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]  # no partial file left


async def test_large_upload_streams_in_parts(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    store = open_store(s3_server.url(bucket))
    data = os.urandom(PART_SIZE + 3 * 2**20 + 17)
    pieces = [data[i : i + 2**20] for i in range(0, len(data), 2**20)]
    assert await store.put("files/big", _chunks(*pieces)) == len(data)
    head = _client(s3_server).head_object(Bucket=bucket, Key="files/big")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2")  # a multipart object of two parts
    await store.fetch("files/big", tmp_path / "big")
    assert (tmp_path / "big").read_bytes() == data


async def test_failed_upload_leaves_no_object_or_parts(s3_server: S3Server, bucket: str) -> None:
    store = open_store(s3_server.url(bucket))

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(PART_SIZE + 1)
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.put("files/half", broken())
    assert not await store.exists("files/half")
    assert not _client(s3_server).list_multipart_uploads(Bucket=bucket).get("Uploads")


async def test_errors_are_the_stores_own(s3_server: S3Server, bucket: str) -> None:
    missing_bucket = open_store(s3_server.url(f"{bucket}-nope"))
    with pytest.raises(TemplateError, match=r"NoSuchBucket|does not exist"):
        await missing_bucket.put("files/a", _chunks(b"a"))
    closed = open_store(f"s3://{bucket}?endpoint=http://127.0.0.1:{free_port()}")
    with pytest.raises(TemplateError, match="S3 head of files/a failed"):
        await closed.exists("files/a")
    with pytest.raises(TemplateError, match="invalid artifact key"):
        await open_store(s3_server.url(bucket)).exists("../etc")


def test_store_urls() -> None:
    with pytest.raises(TemplateError, match="not supported yet"):
        open_store("gs://bucket/prefix")
    with pytest.raises(TemplateError, match="unknown S3 store option"):
        open_store("s3://bucket?endpiont=http://127.0.0.1:1")
    with pytest.raises(TemplateError, match="needs a bucket"):
        open_store("s3:///prefix")


async def test_cache_fetches_once_and_keeps_to_its_limit(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    store = open_store(s3_server.url(bucket))
    cache = FetchCache(store, tmp_path / "cache", limit=10)
    await store.put("files/a", _chunks(b"aaaaaa"))
    assert await cache.fetch("files/a", tmp_path / "a1") is False
    await store.delete("files/a")  # from now on only the node's copy has it
    assert await cache.fetch("files/a", tmp_path / "a2") is True
    assert (tmp_path / "a2").read_bytes() == b"aaaaaa"

    await store.put("files/b", _chunks(b"bbbbbb"))
    assert await cache.fetch("files/b", tmp_path / "b1") is False
    assert not (tmp_path / "cache" / "files" / "a").exists()  # least recently used, over 10 B
    assert (tmp_path / "cache" / "files" / "b").read_bytes() == b"bbbbbb"
    assert (tmp_path / "a2").read_bytes() == b"aaaaaa"  # a build's copy outlives eviction

    with pytest.raises(ArtifactNotFound):
        await cache.fetch("files/c", tmp_path / "c1")
    assert [p.name for p in (tmp_path / "cache" / "files").iterdir()] == ["b"]


@pytest.mark.root
async def test_builds_fetch_copy_files_once_per_node(
    make_builder: MakeBuilder, s3_server: S3Server, bucket: str
) -> None:
    store = open_store(s3_server.url(bucket, "artifacts"))
    builder = await make_builder(store=store)
    files_hash = "ab" * 32
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        info = tarfile.TarInfo("app/hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    await store.put(f"files/{files_hash}", _chunks(data.getvalue()))
    spec = {
        "steps": [
            {"type": "COPY", "args": ["app", "/opt/app"], "filesHash": files_hash},
            {"type": "RUN", "args": ["cat /opt/app/hello.txt > /tmp/copied"]},
        ]
    }

    first = await finish(builder, "b-s3-1", spec)
    assert first.status == "ready", first.reason
    assert any("(0 from this node's cache)" in e.message for e in first.logs)
    await store.delete(f"files/{files_hash}")  # the second build can only use the node's copy
    second = await finish(builder, "b-s3-2", {**spec, "force": True})
    assert second.status == "ready", second.reason
    assert any("(1 from this node's cache)" in e.message for e in second.logs)
    image = builder.templates.find("b-s3-2")
    assert image is not None and (image.rootfs / "tmp" / "copied").read_text() == "hello"
