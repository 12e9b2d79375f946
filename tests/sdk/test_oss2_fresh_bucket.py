"""oss2 reads every bucket, object and account sub-resource it offers on a fresh bucket, and gets
what OSS answers for a bucket that never used the feature: a default document, an empty list, or
the feature's own 404 error, never NotImplemented. And oss2's usual clean-up works."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import oss2
import pytest

from ossdoc_server import RunningServer

Read = Callable[[oss2.Bucket], Any]
DEFAULTS: list[tuple[str, Read, Callable[[Any], Any], Any]] = [
    ("live channels", lambda b: b.list_live_channel(), lambda r: (r.channels, r.is_truncated), ([], False)),
    ("versions", lambda b: b.list_object_versions(), lambda r: (r.versions, r.is_truncated), ([], False)),
    ("versioning", lambda b: b.get_bucket_versioning(), lambda r: r.status, None),
    ("logging", lambda b: b.get_bucket_logging(), lambda r: r.target_bucket or None, None),
    (
        "referer",
        lambda b: b.get_bucket_referer(),
        lambda r: (r.allow_empty_referer, r.referers),
        (True, []),
    ),
    ("request payment", lambda b: b.get_bucket_request_payment(), lambda r: r.payer, "BucketOwner"),
    ("tagging", lambda b: b.get_bucket_tagging(), lambda r: r.tag_set.tagging_rule, {}),
    (
        "access monitor",
        lambda b: b.get_bucket_access_monitor(),
        lambda r: r.access_monitor.status,
        "Disabled",
    ),
    (
        "resource group",
        lambda b: b.get_bucket_resource_group(),
        lambda r: r.resource_group_id,
        "rg-default-id",
    ),
    ("storage capacity", lambda b: b.get_bucket_storage_capacity(), lambda r: r.storage_capacity, -1),
    ("qos", lambda b: b.get_bucket_qos_info(), lambda r: r.total_upload_bw, -1),
    ("archive direct read", lambda b: b.get_bucket_archive_direct_read(), lambda r: r.enabled, False),
    ("https config", lambda b: b.get_bucket_https_config(), lambda r: r.tls_enabled, False),
    (
        "public access block",
        lambda b: b.get_bucket_public_access_block(),
        lambda r: r.block_public_access,
        False,
    ),
    ("styles", lambda b: b.list_bucket_style(), lambda r: r.styles, []),
    ("cnames", lambda b: b.list_bucket_cname(), lambda r: r.cname, []),
    ("replication locations", lambda b: b.get_bucket_replication_location(), lambda r: r.location_list, []),
    (
        "redundancy transitions",
        lambda b: b.list_bucket_data_redundancy_transition(),
        lambda r: r.data_redundancy_transitions,
        [],
    ),
    ("access points", lambda b: b.list_bucket_access_points(), lambda r: r.access_points, []),
    ("requester qos", lambda b: b.list_bucket_requester_qos_infos(), lambda r: r.requester_qos_info, []),
]
MISSING: list[tuple[str, Read, str]] = [
    ("lifecycle", lambda b: b.get_bucket_lifecycle(), "NoSuchLifecycle"),
    ("cors", lambda b: b.get_bucket_cors(), "NoSuchCORSConfiguration"),
    ("website", lambda b: b.get_bucket_website(), "NoSuchWebsiteConfiguration"),
    ("policy", lambda b: b.get_bucket_policy(), "NoSuchBucketPolicy"),
    ("encryption", lambda b: b.get_bucket_encryption(), "NoSuchServerSideEncryptionRule"),
    ("inventory", lambda b: b.get_bucket_inventory_configuration("inv"), "NoSuchInventory"),
    ("inventories", lambda b: b.list_bucket_inventory_configurations(), "NoSuchInventory"),
    ("worm", lambda b: b.get_bucket_worm(), "NoSuchWORMConfiguration"),
    ("replication", lambda b: b.get_bucket_replication(), "NoSuchReplicationConfiguration"),
    ("replication progress", lambda b: b.get_bucket_replication_progress("rule"), "NoSuchReplicationRule"),
    (
        "transfer acceleration",
        lambda b: b.get_bucket_transfer_acceleration(),
        "NoSuchTransferAccelerationConfiguration",
    ),
    ("cname token", lambda b: b.get_bucket_cname_token("example.com"), "CnameTokenNotFound"),
    ("meta query", lambda b: b.get_bucket_meta_query_status(), "MetaQueryNotExist"),
    ("style", lambda b: b.get_bucket_style("thumb"), "NoSuchStyle"),
    ("callback policy", lambda b: b.get_bucket_callback_policy(), "BucketCallbackPolicyNotExist"),
    (
        "redundancy transition",
        lambda b: b.get_bucket_data_redundancy_transition("task"),
        "NoSuchDataRedundancyTransition",
    ),
    ("access point", lambda b: b.get_access_point("ap"), "NoSuchAccessPoint"),
    ("access point policy", lambda b: b.get_access_point_policy("ap"), "NoSuchAccessPoint"),
    (
        "access point public access block",
        lambda b: b.get_access_point_public_access_block("ap"),
        "NoSuchAccessPoint",
    ),
    ("async fetch", lambda b: b.get_async_fetch_task("task"), "NoSuchAsyncFetchTask"),
    ("live channel", lambda b: b.get_live_channel("chan"), "NoSuchLiveChannel"),
    ("live channel stat", lambda b: b.get_live_channel_stat("chan"), "NoSuchLiveChannel"),
    ("live channel history", lambda b: b.get_live_channel_history("chan"), "NoSuchLiveChannel"),
    ("vod playlist", lambda b: b.get_vod_playlist("chan", 1, 2), "NoSuchLiveChannel"),
]


@pytest.mark.parametrize(("name", "read", "field", "expected"), DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_default_documents(
    bucket: oss2.Bucket, name: str, read: Read, field: Callable[[Any], Any], expected: Any
) -> None:
    assert field(read(bucket)) == expected


@pytest.mark.parametrize(("name", "read", "code"), MISSING, ids=[m[0] for m in MISSING])
def test_unconfigured_features_are_404(bucket: oss2.Bucket, name: str, read: Read, code: str) -> None:
    with pytest.raises(oss2.exceptions.ServerError) as info:
        read(bucket)
    assert (info.value.status, info.value.code) == (404, code)


def test_a_missing_bucket_is_no_such_bucket(server: RunningServer, oss2_auth: oss2.Auth) -> None:
    ghost = oss2.Bucket(oss2_auth, server.endpoint, f"t-{uuid.uuid4().hex[:16]}", region="cn-hangzhou")
    for read in (
        lambda b: b.get_bucket_versioning(),
        lambda b: b.get_bucket_lifecycle(),
        lambda b: b.list_live_channel(),
    ):
        with pytest.raises(oss2.exceptions.NoSuchBucket):
            read(ghost)


def test_deleting_what_was_never_set(bucket: oss2.Bucket) -> None:
    for delete in (
        bucket.delete_bucket_lifecycle,
        bucket.delete_bucket_cors,
        bucket.delete_bucket_website,
        bucket.delete_bucket_policy,
        bucket.delete_bucket_encryption,
        bucket.delete_bucket_tagging,
        bucket.delete_bucket_logging,
    ):
        assert delete().status == 204


def test_enabling_a_feature_is_not_implemented(bucket: oss2.Bucket) -> None:
    config = oss2.models.BucketVersioningConfig()
    config.status = oss2.BUCKET_VERSIONING_ENABLE
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_bucket_versioning(config)
    assert (info.value.status, info.value.code) == (501, "NotImplemented")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_bucket_tagging(oss2.models.Tagging(oss2.models.TaggingRule()))
    assert info.value.status == 501


def test_object_sub_resources(bucket: oss2.Bucket) -> None:
    bucket.put_object("obj", b"data")
    assert bucket.get_object_tagging("obj").tag_set.tagging_rule == {}
    assert bucket.get_object_acl("obj").acl == "default"
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_symlink("obj")
    assert (info.value.status, info.value.code) == (400, "NotSymlink")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_symlink("absent")


def test_the_null_version_is_the_object(bucket: oss2.Bucket) -> None:
    bucket.put_object("obj", b"data")
    assert bucket.get_object("obj", params={"versionId": "null"}).read() == b"data"
    assert bucket.head_object("obj", params={"versionId": "null"}).content_length == 4
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_object("obj", params={"versionId": "CAEQNhiBgMDJgZCA0BYiIDc4MGZj"})
    assert (info.value.status, info.value.code) == (404, "NoSuchVersion")
    bucket.delete_object("obj", params={"versionId": "CAEQNhiBgMDJgZCA0BYiIDc4MGZj"})
    assert bucket.object_exists("obj")
    bucket.delete_object("obj", params={"versionId": "null"})
    assert not bucket.object_exists("obj")


def test_versions_list_the_current_objects_page_by_page(bucket: oss2.Bucket) -> None:
    keys = [f"d{i % 2}/k{i:02d}" for i in range(7)] + ["top"]
    for key in keys:
        bucket.put_object(key, key.encode())
    seen: list[str] = []
    key_marker = version_marker = ""
    while True:
        page = bucket.list_object_versions(key_marker=key_marker, versionid_marker=version_marker, max_keys=3)
        assert all(v.versionid == "null" and v.is_latest for v in page.versions)
        assert page.delete_marker == []
        seen += [v.key for v in page.versions]
        if not page.is_truncated:
            break
        key_marker, version_marker = page.next_key_marker, page.next_versionid_marker
    assert seen == sorted(keys)
    grouped = bucket.list_object_versions(delimiter="/")
    assert (grouped.common_prefix, [v.key for v in grouped.versions]) == (["d0/", "d1/"], ["top"])
    versions = oss2.models.BatchDeleteObjectVersionList()
    versions.append(oss2.models.BatchDeleteObjectVersion("top", "null"))
    versions.append(oss2.models.BatchDeleteObjectVersion("d0/k00", "CAEQNhiBgMDJgZCA0BYiIDc4MGZj"))
    deleted = bucket.delete_object_versions(versions)
    assert sorted((d.key, d.versionid) for d in deleted.delete_versions) == [
        ("d0/k00", "CAEQNhiBgMDJgZCA0BYiIDc4MGZj"),
        ("top", "null"),
    ]
    assert not bucket.object_exists("top") and bucket.object_exists("d0/k00")


def test_account_reads(server: RunningServer, oss2_auth: oss2.Auth) -> None:
    service = oss2.Service(oss2_auth, server.endpoint, region="cn-hangzhou")
    assert [r.region for r in service.describe_regions().regions] == ["oss-cn-hangzhou"]
    assert service.get_public_access_block().block_public_access is False
    assert service.list_access_points().access_points == []
    assert service.get_user_qos_info().total_upload_bw == -1
    assert service.list_user_data_redundancy_transition().data_redundancy_transitions == []
    assert service.list_resource_pools().resource_pool == []
    with pytest.raises(oss2.exceptions.ServerError) as info:
        service.get_resource_pool_info("pool")
    assert (info.value.status, info.value.code) == (404, "NoSuchResourcePool")


def test_oss2_clean_up_of_a_used_bucket(server: RunningServer, oss2_auth: oss2.Auth) -> None:
    """What oss2's own test suite does to remove a bucket (tests/common.py clean_and_delete_bucket)."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    b = oss2.Bucket(oss2_auth, server.endpoint, name, region="cn-hangzhou")
    b.create_bucket()
    b.put_object("a", b"1")
    b.put_object("dir/b", b"2")
    b.init_multipart_upload("big")
    info = b.get_bucket_info()
    if info.versioning_status in (oss2.BUCKET_VERSIONING_ENABLE, oss2.BUCKET_VERSIONING_SUSPEND):
        pytest.fail("versioning was never enabled")
    for version in b.list_object_versions().versions:
        b.delete_object(version.key, params={"versionId": version.versionid})
    for upload in oss2.MultipartUploadIterator(b):
        b.abort_multipart_upload(upload.key, upload.upload_id)
    for obj in oss2.ObjectIterator(b):
        b.delete_object(obj.key)
    for channel in oss2.LiveChannelIterator(b):
        b.delete_live_channel(channel.name)
    b.delete_bucket()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_bucket_info()
