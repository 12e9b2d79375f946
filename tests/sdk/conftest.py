from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from ossdoc_server import RunningServer, running

# The object tests run on both storages; bucket and access tests, whose storage calls are the same
# few, on local storage only (the 2,500-key listing test alone takes minutes on SeaweedFS here).
ON_S3_TOO = {"test_oss2_objects.py", "test_v2.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def wanted(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        on_s3 = callspec is not None and callspec.params.get("server") == "s3"
        return not on_s3 or item.path.name in ON_S3_TOO

    chosen = [item for item in items if wanted(item)]
    if len(chosen) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if not wanted(item)])
        items[:] = chosen


@pytest.fixture(scope="session", params=["local", "s3"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The SDK tests run against ossdoc on its local storage and on the S3 backend (a real SeaweedFS)."""
    settings: dict[str, str] = {}
    if request.param == "s3":
        settings = request.getfixturevalue("seaweedfs").settings("s3://sdk")
    data: Path = tmp_path_factory.mktemp(f"ossdoc-{request.param}") / "data"
    with running(data, **settings) as srv:
        yield srv


@pytest.fixture(params=["v1", "v4"])
def oss2_auth(request: pytest.FixtureRequest, server: RunningServer) -> oss2.Auth | oss2.AuthV4:
    if request.param == "v1":
        return oss2.Auth(server.access_key_id, server.access_key_secret)
    return oss2.AuthV4(server.access_key_id, server.access_key_secret)


def _delete_everything(bucket: oss2.Bucket) -> None:
    for upload in oss2.MultipartUploadIterator(bucket):
        bucket.abort_multipart_upload(upload.key, upload.upload_id)
    keys = [obj.key for obj in oss2.ObjectIterator(bucket)]
    for start in range(0, len(keys), 1000):
        bucket.batch_delete_objects(keys[start : start + 1000])
    bucket.delete_bucket()


@pytest.fixture
def bucket(server: RunningServer, oss2_auth: oss2.Auth) -> Iterator[oss2.Bucket]:
    """A fresh bucket reached by oss2 with V1 or V4 signatures, removed afterwards."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    b = oss2.Bucket(oss2_auth, server.endpoint, name, region="cn-hangzhou")
    b.create_bucket()
    yield b
    _delete_everything(b)


def v2_client(server: RunningServer, signature_version: str = "v4") -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.access_key_id, server.access_key_secret
    )
    cfg.region = "cn-hangzhou"
    cfg.endpoint = server.endpoint
    cfg.signature_version = signature_version
    return oss.Client(cfg)


@pytest.fixture(params=["v4", "v1"])
def client(request: pytest.FixtureRequest, server: RunningServer) -> oss.Client:
    return v2_client(server, request.param)


@pytest.fixture
def v2_bucket(client: oss.Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:16]}"
    client.put_bucket(oss.PutBucketRequest(bucket=name))
    yield name
    for page in client.list_multipart_uploads_paginator().iter_page(
        oss.ListMultipartUploadsRequest(bucket=name)
    ):
        for upload in page.uploads or []:
            client.abort_multipart_upload(
                oss.AbortMultipartUploadRequest(bucket=name, key=upload.key, upload_id=upload.upload_id)
            )
    for page in client.list_objects_v2_paginator().iter_page(oss.ListObjectsV2Request(bucket=name)):
        for obj in page.contents or []:
            client.delete_object(oss.DeleteObjectRequest(bucket=name, key=obj.key))
    client.delete_bucket(oss.DeleteBucketRequest(bucket=name))
