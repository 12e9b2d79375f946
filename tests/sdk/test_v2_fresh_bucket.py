"""alibabacloud-oss-v2 reads every bucket, object and account sub-resource it offers on a fresh
bucket and gets OSS's answer for a bucket that never used the feature, never NotImplemented."""

from __future__ import annotations

from typing import Any

import alibabacloud_oss_v2 as oss
import pytest

# (client method, request class, extra request fields, OSS error code or None for a 200)
BUCKET_READS: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("get_bucket_versioning", "GetBucketVersioningRequest", {}, None),
    ("list_object_versions", "ListObjectVersionsRequest", {}, None),
    ("get_bucket_logging", "GetBucketLoggingRequest", {}, None),
    ("get_bucket_referer", "GetBucketRefererRequest", {}, None),
    ("get_bucket_request_payment", "GetBucketRequestPaymentRequest", {}, None),
    ("get_bucket_tags", "GetBucketTagsRequest", {}, None),
    ("get_bucket_access_monitor", "GetBucketAccessMonitorRequest", {}, None),
    ("get_bucket_resource_group", "GetBucketResourceGroupRequest", {}, None),
    ("get_bucket_archive_direct_read", "GetBucketArchiveDirectReadRequest", {}, None),
    ("get_bucket_https_config", "GetBucketHttpsConfigRequest", {}, None),
    ("get_bucket_public_access_block", "GetBucketPublicAccessBlockRequest", {}, None),
    ("get_bucket_policy_status", "GetBucketPolicyStatusRequest", {}, None),
    ("get_bucket_replication_location", "GetBucketReplicationLocationRequest", {}, None),
    ("get_bucket_storage_quota", "GetBucketStorageQuotaRequest", {}, None),
    ("get_bucket_object_worm_configuration", "GetBucketObjectWormConfigurationRequest", {}, None),
    ("list_cname", "ListCnameRequest", {}, None),
    ("list_style", "ListStyleRequest", {}, None),
    ("list_access_points", "ListAccessPointsRequest", {}, None),
    ("list_bucket_data_redundancy_transition", "ListBucketDataRedundancyTransitionRequest", {}, None),
    ("list_multipart_uploads", "ListMultipartUploadsRequest", {}, None),
    ("get_bucket_lifecycle", "GetBucketLifecycleRequest", {}, "NoSuchLifecycle"),
    ("get_bucket_cors", "GetBucketCorsRequest", {}, "NoSuchCORSConfiguration"),
    ("get_bucket_website", "GetBucketWebsiteRequest", {}, "NoSuchWebsiteConfiguration"),
    ("get_bucket_policy", "GetBucketPolicyRequest", {}, "NoSuchBucketPolicy"),
    ("get_bucket_encryption", "GetBucketEncryptionRequest", {}, "NoSuchServerSideEncryptionRule"),
    ("get_bucket_inventory", "GetBucketInventoryRequest", {"inventory_id": "inv"}, "NoSuchInventory"),
    ("list_bucket_inventory", "ListBucketInventoryRequest", {}, "NoSuchInventory"),
    ("get_bucket_worm", "GetBucketWormRequest", {}, "NoSuchWORMConfiguration"),
    ("get_bucket_replication", "GetBucketReplicationRequest", {}, "NoSuchReplicationConfiguration"),
    (
        "get_bucket_replication_progress",
        "GetBucketReplicationProgressRequest",
        {"rule_id": "rule"},
        "NoSuchReplicationRule",
    ),
    (
        "get_bucket_transfer_acceleration",
        "GetBucketTransferAccelerationRequest",
        {},
        "NoSuchTransferAccelerationConfiguration",
    ),
    ("get_cname_token", "GetCnameTokenRequest", {"cname": "example.com"}, "CnameTokenNotFound"),
    ("get_meta_query_status", "GetMetaQueryStatusRequest", {}, "MetaQueryNotExist"),
    ("get_style", "GetStyleRequest", {"style_name": "thumb"}, "NoSuchStyle"),
    (
        "get_bucket_data_redundancy_transition",
        "GetBucketDataRedundancyTransitionRequest",
        {"redundancy_transition_taskid": "task"},
        "NoSuchDataRedundancyTransition",
    ),
    ("get_access_point", "GetAccessPointRequest", {"access_point_name": "ap"}, "NoSuchAccessPoint"),
    (
        "get_access_point_policy",
        "GetAccessPointPolicyRequest",
        {"access_point_name": "ap"},
        "NoSuchAccessPoint",
    ),
    (
        "get_access_point_public_access_block",
        "GetAccessPointPublicAccessBlockRequest",
        {"access_point_name": "ap"},
        "NoSuchAccessPoint",
    ),
    ("get_bucket_overwrite_config", "GetBucketOverwriteConfigRequest", {}, "NoSuchOverwriteConfiguration"),
    (
        "get_user_defined_log_fields_config",
        "GetUserDefinedLogFieldsConfigRequest",
        {},
        "NoSuchUserDefinedLogFieldsConfig",
    ),
    (
        "get_bucket_metadata_configuration",
        "GetBucketMetadataConfigurationRequest",
        {},
        "NoSuchMetadataConfiguration",
    ),
]


def call(client: oss.Client, method: str, request: str, **fields: Any) -> Any:
    return getattr(client, method)(getattr(oss, request)(**fields))


@pytest.mark.parametrize(
    ("method", "request_class", "fields", "code"), BUCKET_READS, ids=[r[0] for r in BUCKET_READS]
)
def test_bucket_reads_on_a_fresh_bucket(
    client: oss.Client,
    v2_bucket: str,
    method: str,
    request_class: str,
    fields: dict[str, Any],
    code: str | None,
) -> None:
    if code is None:
        assert call(client, method, request_class, bucket=v2_bucket, **fields).status_code == 200
        return
    with pytest.raises(oss.exceptions.OperationError) as info:
        call(client, method, request_class, bucket=v2_bucket, **fields)
    error = info.value.unwrap()
    assert isinstance(error, oss.exceptions.ServiceError)
    assert (error.status_code, error.code) == (404, code)


def test_default_values(client: oss.Client, v2_bucket: str) -> None:
    assert (
        call(client, "get_bucket_versioning", "GetBucketVersioningRequest", bucket=v2_bucket).version_status
        is None
    )
    referer = call(
        client, "get_bucket_referer", "GetBucketRefererRequest", bucket=v2_bucket
    ).referer_configuration
    assert referer.allow_empty_referer is True
    payment = call(client, "get_bucket_request_payment", "GetBucketRequestPaymentRequest", bucket=v2_bucket)
    assert payment.request_payment_configuration.payer == "BucketOwner"
    monitor = call(client, "get_bucket_access_monitor", "GetBucketAccessMonitorRequest", bucket=v2_bucket)
    assert monitor.access_monitor_configuration.status == "Disabled"
    group = call(client, "get_bucket_resource_group", "GetBucketResourceGroupRequest", bucket=v2_bucket)
    assert group.bucket_resource_group_configuration.resource_group_id == "rg-default-id"
    tags = call(client, "get_bucket_tags", "GetBucketTagsRequest", bucket=v2_bucket)
    assert not (tags.tagging.tag_set and tags.tagging.tag_set.tags)


def test_object_and_account_reads(client: oss.Client, v2_bucket: str) -> None:
    client.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="obj", body=b"data"))
    obj = {"bucket": v2_bucket, "key": "obj"}
    assert call(client, "get_object_tagging", "GetObjectTaggingRequest", **obj).tag_set.tags in (None, [])
    assert call(client, "get_object_acl", "GetObjectAclRequest", **obj).acl == "default"
    assert call(client, "get_object_retention", "GetObjectRetentionRequest", **obj).status_code == 200
    assert (
        call(client, "get_object_legal_hold", "GetObjectLegalHoldRequest", **obj).legal_hold.status == "OFF"
    )
    with pytest.raises(oss.exceptions.OperationError) as info:
        call(client, "get_symlink", "GetSymlinkRequest", **obj)
    assert info.value.unwrap().code == "NotSymlink"
    versions = client.list_object_versions(oss.ListObjectVersionsRequest(bucket=v2_bucket))
    assert [(v.key, v.version_id, v.is_latest) for v in versions.version] == [("obj", "null", True)]
    regions = client.describe_regions(oss.DescribeRegionsRequest())
    assert [r.region for r in regions.region_info] == ["oss-cn-hangzhou"]
    assert client.get_public_access_block(oss.GetPublicAccessBlockRequest()).status_code == 200
    assert client.list_cloud_boxes(oss.ListCloudBoxesRequest()).status_code == 200
    assert (
        client.list_user_data_redundancy_transition(oss.ListUserDataRedundancyTransitionRequest()).status_code
        == 200
    )
