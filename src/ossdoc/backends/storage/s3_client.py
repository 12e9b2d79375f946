"""The few S3 calls S3Storage makes, over one aiobotocore client, with errors as Python values.

Conditional writes (``If-Match`` / ``If-None-Match: *`` on PutObject, AWS since 2024, SeaweedFS,
MinIO) are what make a commit atomic against other writers and other replicas: a writer that lost
the race gets ``Conflict`` and starts over from what it reads now."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

from aiobotocore.session import AioSession, get_session
from botocore.config import Config
from botocore.exceptions import ClientError

from ossdoc import errors

READ_CHUNK = 1024 * 1024
# Requests in flight at once for one call that reads many records.
FETCHES = 16

T = TypeVar("T")


_session: AioSession | None = None


def _shared_session() -> AioSession:
    """One botocore session per process: it caches the S3 service model, which takes seconds to load."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


class Conflict(Exception):
    """A conditional write lost: the key changed (or appeared) since it was read."""


@dataclass(frozen=True)
class Endpoint:
    url: str  # "" for AWS
    access_key: str
    secret_key: str
    region: str


async def gather_bounded(calls: Iterable[Awaitable[T]], limit: int = FETCHES) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def run(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(run(call) for call in calls)))


def status_of(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def code_of(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3:
    def __init__(self, client: Any, stack: AsyncExitStack) -> None:
        self.client = client
        self._stack = stack

    @classmethod
    async def connect(cls, endpoint: Endpoint, max_connections: int = 64) -> S3:
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            # botocore's defaults add CRC32 trailers and validate response checksums, which stores
            # other than AWS reject or do not send.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=max_connections,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            _shared_session().create_client(
                "s3",
                endpoint_url=endpoint.url or None,
                region_name=endpoint.region,
                aws_access_key_id=endpoint.access_key or None,
                aws_secret_access_key=endpoint.secret_key or None,
                config=config,
            )
        )
        return cls(client, stack)

    async def close(self) -> None:
        await self._stack.aclose()

    async def get_json(self, bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
        """The JSON body of ``key`` and its ETag, or None if there is no such key (or bucket)."""
        try:
            reply = await self.client.get_object(Bucket=bucket, Key=key)
            async with reply["Body"] as body:
                data = await body.read()
        except ClientError as exc:
            if status_of(exc) == 404:
                return None
            raise
        return json.loads(data), str(reply["ETag"])

    async def put_json(
        self,
        bucket: str,
        key: str,
        value: dict[str, Any],
        *,
        if_match: str | None = None,
        if_absent: bool = False,
        **extra: Any,
    ) -> str:
        """Write ``value``; with ``if_match`` only over that ETag, with ``if_absent`` only if there is
        no such key, else raise Conflict. Return the new ETag."""
        conditions: dict[str, str] = {}
        if if_match is not None:
            conditions["IfMatch"] = if_match
        elif if_absent:
            conditions["IfNoneMatch"] = "*"
        data = json.dumps(value, separators=(",", ":")).encode()
        try:
            reply = await self.client.put_object(Bucket=bucket, Key=key, Body=data, **conditions, **extra)
        except ClientError as exc:
            if status_of(exc) in (409, 412) and conditions:
                raise Conflict() from exc
            if code_of(exc) == "NoSuchBucket":
                raise errors.NoSuchBucket() from exc
            raise
        return str(reply["ETag"])

    async def delete(self, bucket: str, key: str) -> None:
        try:
            await self.client.delete_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if status_of(exc) != 404:
                raise

    async def delete_many(self, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            await self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})

    async def list_keys(
        self, bucket: str, prefix: str, start_after: str = "", limit: int = 1000
    ) -> list[str]:
        """Up to ``limit`` keys under ``prefix`` after ``start_after``, not below a further ``/``."""
        if limit <= 0:
            return []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if start_after:
            kwargs["StartAfter"] = start_after
        keys: list[str] = []
        while len(keys) < limit:
            kwargs["MaxKeys"] = min(1000, limit - len(keys))
            try:
                reply = await self.client.list_objects_v2(**kwargs)
            except ClientError as exc:
                if status_of(exc) == 404:
                    return keys
                raise
            # SeaweedFS lists a directory left empty as a key ending in "/": never one of ours.
            keys += [item["Key"] for item in reply.get("Contents", []) if not item["Key"].endswith("/")]
            if not reply.get("IsTruncated"):
                break
            kwargs.pop("StartAfter", None)
            kwargs["ContinuationToken"] = reply["NextContinuationToken"]
        return keys

    async def read(self, bucket: str, key: str, start: int, length: int) -> AsyncIterator[bytes]:
        """Bytes [start, start+length) of ``key`` in chunks of at most READ_CHUNK."""
        try:
            reply = await self.client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except ClientError as exc:
            if status_of(exc) == 404:
                raise errors.NoSuchKey("The object's data is gone (overwritten or deleted).") from exc
            raise
        async with reply["Body"] as body:
            while chunk := await body.read(READ_CHUNK):
                yield chunk
