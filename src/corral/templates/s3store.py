"""The artifact store on S3 or an S3-compatible server (MinIO, Ceph RGW, …), for clusters.

`s3://bucket/prefix?endpoint=http://10.0.0.5:9000&region=eu-west-1`: `endpoint` is for servers
other than AWS (their buckets are addressed by path); credentials come from boto3's usual
chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance role), never from
the URL. boto3 is synchronous, so every call runs in a worker thread.

Uploads stream: chunks are gathered into parts of PART_SIZE and sent as a multipart upload,
so memory stays bounded whatever the size (one small object is a single PUT). An object
appears only when its upload completes, so a reader never sees half of one, and a failed
upload is aborted rather than leaving parts behind that the bucket keeps (and bills).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from corral.templates.errors import ArtifactNotFound, TemplateError
from corral.templates.store import check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_SIZE = 8 << 20
"""S3 wants parts of at least 5 MiB (all but the last); 8 MiB is what boto3 itself uses."""
MISSING = ("404", "NoSuchKey", "NotFound")


class S3Store:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
    ) -> None:
        if not bucket:
            raise TemplateError("the S3 artifact store needs a bucket (s3://bucket/prefix)")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        config = Config(retries={"max_attempts": 4, "mode": "standard"})
        if endpoint:
            # Other servers address buckets by path, and many reject the checksums boto3
            # adds to every request since 1.36 unless the operation requires one.
            config = config.merge(
                Config(
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
            )
        session = boto3.session.Session()
        self.client: S3Client = session.client(
            "s3", endpoint_url=endpoint, region_name=region, config=config
        )

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        unknown = set(query) - {"endpoint", "region"}
        if unknown:
            raise TemplateError(f"unknown S3 store option(s) {sorted(unknown)} in {url!r}")
        return cls(
            parsed.netloc,
            parsed.path,
            endpoint=query.get("endpoint") or None,
            region=query.get("region") or None,
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def exists(self, key: str) -> bool:
        try:
            await self._call("head", key, self.client.head_object, Key=self._name(key))
        except ArtifactNotFound:
            return False
        return True

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        name = self._name(key)
        buffer = bytearray()
        written = 0
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []

        async def send_part(upload: str, data: bytes) -> None:
            number = len(parts) + 1
            sent = await self._call(
                "upload", key, self.client.upload_part,
                Key=name, UploadId=upload, PartNumber=number, Body=data,
            )  # fmt: skip
            parts.append({"ETag": sent["ETag"], "PartNumber": number})

        try:
            async for chunk in chunks:
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        started = await self._call(
                            "upload", key, self.client.create_multipart_upload, Key=name
                        )
                        upload_id = started["UploadId"]
                    await send_part(upload_id, bytes(buffer[:PART_SIZE]))
                    del buffer[:PART_SIZE]
            if upload_id is None:
                await self._call(
                    "upload", key, self.client.put_object, Key=name, Body=bytes(buffer)
                )
                return written
            if buffer:
                await send_part(upload_id, bytes(buffer))
            await self._call(
                "upload", key, self.client.complete_multipart_upload,
                Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts},
            )  # fmt: skip
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(
                        self.client.abort_multipart_upload,
                        Bucket=self.bucket, Key=name, UploadId=upload_id,
                    )  # fmt: skip
            raise
        return written

    async def fetch(self, key: str, target: Path) -> None:
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            await self._call(
                "fetch", key, self.client.download_file, Key=self._name(key), Filename=str(partial)
            )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        await self._call("delete", key, self.client.delete_object, Key=self._name(key))

    async def _call(self, what: str, key: str, method: Any, **kwargs: Any) -> Any:
        """`method(Bucket=…, **kwargs)` in a thread; S3's errors as the store's own."""
        try:
            return await asyncio.to_thread(method, Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if str(error.get("Code")) in MISSING:
                raise ArtifactNotFound(f"artifact {key} is not in the store") from None
            message = error.get("Message") or error.get("Code") or str(exc)
            raise TemplateError(f"S3 {what} of {key} failed: {message}") from exc
        except BotoCoreError as exc:
            raise TemplateError(f"S3 {what} of {key} failed: {exc}") from exc
