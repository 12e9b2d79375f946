"""Reads of OSS features ossdoc does not offer, answered as OSS answers for a bucket that never used
them: the feature's default document, an empty list, or the feature's own 404 error (codes and
messages from Alibaba's OSS API reference). SDK clean-up and inspection code reads these routinely.
Deleting a configuration that was never set succeeds, as in OSS; writes that would turn a feature on
stay NotImplemented (``ossdoc.wire.routing``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import Response

from ossdoc import errors
from ossdoc.wire.context import Context
from ossdoc.wire.routes.common import empty, owner, xml_reply
from ossdoc.wire.routing import Router, Scope

router = Router()
Reply = Callable[[Context], Awaitable[Response]]
UNLIMITED_QOS = {
    name: "-1"
    for name in (
        "TotalUploadBandwidth",
        "IntranetUploadBandwidth",
        "ExtranetUploadBandwidth",
        "TotalDownloadBandwidth",
        "IntranetDownloadBandwidth",
        "ExtranetDownloadBandwidth",
        "TotalQps",
        "IntranetQps",
        "ExtranetQps",
    )
}


def _document(tag: str, children: Mapping[str, Any]) -> Reply:
    async def reply(ctx: Context) -> Response:
        return xml_reply(tag, children)

    return reply


def _failure(error: type[errors.OSSError]) -> Reply:
    async def reply(ctx: Context) -> Response:
        raise error()

    return reply


NO_ACCESS_POINTS = {"IsTruncated": False, "MaxKeys": "100", "AccessPoints": {}}


async def _live_channels(ctx: Context) -> Response:
    q = ctx.query
    return xml_reply(
        "ListLiveChannelResult",
        {
            "Prefix": q.get("prefix", ""),
            "Marker": q.get("marker", ""),
            "MaxKeys": q.get("max-keys", "100"),
            "IsTruncated": False,
            "NextMarker": "",
        },
    )


async def _cname(ctx: Context) -> Response:
    if ctx.query.get("comp") == "token":
        raise errors.CnameTokenNotFound(Cname=ctx.query.get("cname", ""))
    return xml_reply("ListCnameResult", {"Bucket": ctx.require_bucket(), "Owner": owner(ctx)["ID"]})


async def _style(ctx: Context) -> Response:
    if "styleName" in ctx.query:
        raise errors.NoSuchStyle()
    return xml_reply("StyleList", {})


async def _policy(ctx: Context) -> Response:
    if ctx.query.get("comp") == "callback":
        raise errors.BucketCallbackPolicyNotExist()
    raise errors.NoSuchBucketPolicy()


def _access_point_name(ctx: Context) -> str | None:
    return ctx.headers.get("x-oss-access-point-name") or ctx.query.get("x-oss-access-point-name")


async def _access_points(ctx: Context) -> Response:
    if _access_point_name(ctx):
        raise errors.NoSuchAccessPoint()
    return xml_reply("ListAccessPointsResult", NO_ACCESS_POINTS)


async def _public_access_block(ctx: Context) -> Response:
    if _access_point_name(ctx):
        raise errors.NoSuchAccessPoint()
    return xml_reply("PublicAccessBlockConfiguration", {"BlockPublicAccess": False})


async def _redundancy_transitions(ctx: Context) -> Response:
    if ctx.headers.get("x-oss-redundancy-transition-taskid") or ctx.query.get(
        "x-oss-redundancy-transition-taskid"
    ):
        raise errors.NoSuchDataRedundancyTransition()
    return xml_reply("ListBucketDataRedundancyTransition", {"IsTruncated": False})


async def _requester_qos(ctx: Context) -> Response:
    requester = ctx.query.get("qosRequester")
    if requester:
        return xml_reply("RequesterQoSInfo", {"Requester": requester, "QoSConfiguration": UNLIMITED_QOS})
    return xml_reply(
        "ListBucketRequesterQoSInfosResult",
        {"Bucket": ctx.require_bucket(), "ContinuationToken": "", "IsTruncated": False},
    )


# GET /<bucket>?<sub-resource> on a bucket that never configured the feature.
BUCKET_READS: dict[str, Reply] = {
    "versioning": _document("VersioningConfiguration", {}),
    "logging": _document("BucketLoggingStatus", {}),
    "referer": _document(
        "RefererConfiguration",
        {"AllowEmptyReferer": True, "AllowTruncateQueryString": True, "RefererList": {}},
    ),
    "requestPayment": _document("RequestPaymentConfiguration", {"Payer": "BucketOwner"}),
    "tagging": _document("Tagging", {"TagSet": {}}),
    "accessmonitor": _document("AccessMonitorConfiguration", {"Status": "Disabled"}),
    "resourceGroup": _document("BucketResourceGroupConfiguration", {"ResourceGroupId": "rg-default-id"}),
    "qos": _document("BucketUserQos", {"StorageCapacity": "-1"}),
    "qosInfo": _document("QoSConfiguration", UNLIMITED_QOS),
    "quota": _document("QuotaConfiguration", {"StorageQuota": "-1"}),
    "bucketArchiveDirectRead": _document("ArchiveDirectReadConfiguration", {"Enabled": False}),
    "httpsConfig": _document("HttpsConfiguration", {"TLS": {"Enable": False}}),
    "policyStatus": _document("PolicyStatus", {"IsPublic": False}),
    "objectWorm": _document("ObjectWormConfiguration", {}),
    "replicationLocation": _document("ReplicationLocation", {}),
    "live": _live_channels,
    "cname": _cname,
    "style": _style,
    "policy": _policy,
    "accessPointPolicy": _failure(errors.NoSuchAccessPoint),
    "accessPoint": _access_points,
    "publicAccessBlock": _public_access_block,
    "redundancyTransition": _redundancy_transitions,
    "requesterQosInfo": _requester_qos,
    "lifecycle": _failure(errors.NoSuchLifecycle),
    "cors": _failure(errors.NoSuchCORSConfiguration),
    "website": _failure(errors.NoSuchWebsiteConfiguration),
    "encryption": _failure(errors.NoSuchServerSideEncryptionRule),
    "inventory": _failure(errors.NoSuchInventory),
    "worm": _failure(errors.NoSuchWORMConfiguration),
    "replicationProgress": _failure(errors.NoSuchReplicationRule),
    "replication": _failure(errors.NoSuchReplicationConfiguration),
    "transferAcceleration": _failure(errors.NoSuchTransferAccelerationConfiguration),
    "metaQuery": _failure(errors.MetaQueryNotExist),
    "overwriteConfig": _failure(errors.NoSuchOverwriteConfiguration),
    "userDefinedLogFieldsConfig": _failure(errors.NoSuchUserDefinedLogFieldsConfig),
    "metadataConfiguration": _failure(errors.NoSuchMetadataConfiguration),
    "asyncFetch": _failure(errors.NoSuchAsyncFetchTask),
}
# DELETE /<bucket>?<sub-resource>: removing what was never set leaves the bucket as it is.
BUCKET_RESETS = (
    "lifecycle",
    "cors",
    "website",
    "policy",
    "encryption",
    "tagging",
    "logging",
    "publicAccessBlock",
    "quota",
    "overwriteConfig",
    "userDefinedLogFieldsConfig",
)
# GET /<bucket>/<key>?<sub-resource> of an existing object: ossdoc stores no symlinks or retention.
OBJECT_READS: dict[str, Reply] = {
    "symlink": _failure(errors.NotSymlink),
    "retention": _document("Retention", {}),
    "legalHold": _document("LegalHold", {"Status": "OFF"}),
}
# Live channels are addressed as objects by the SDKs (GET/DELETE /<bucket>/<channel>?live).
NO_LIVE_CHANNEL = _failure(errors.NoSuchLiveChannel)


async def _regions(ctx: Context) -> Response:
    settings = ctx.state.settings
    region = {
        "Region": f"oss-{settings.region}",
        "InternetEndpoint": settings.endpoint,
        "InternalEndpoint": settings.endpoint,
        "AccelerateEndpoint": "",
    }
    wanted = ctx.query.get("regions", "")
    if wanted and wanted not in (settings.region, region["Region"]):
        raise errors.NoSuchRegion(f"The region {wanted} does not exist.")
    return xml_reply("RegionInfoList", {"RegionInfo": region})


async def _user_qos(ctx: Context) -> Response:
    return xml_reply("QoSConfiguration", {"Region": ctx.state.settings.region, **UNLIMITED_QOS})


# GET /?<sub-resource> for the account.
SERVICE_READS: dict[str, Reply] = {
    "regions": _regions,
    "publicAccessBlock": _document("PublicAccessBlockConfiguration", {"BlockPublicAccess": False}),
    "qosInfo": _user_qos,
    "accessPoint": _document("ListAccessPointsResult", NO_ACCESS_POINTS),
    "redundancyTransition": _document("ListBucketDataRedundancyTransition", {"IsTruncated": False}),
    "cloudboxes": _document("ListCloudBoxResult", {"IsTruncated": False, "CloudBoxes": {}}),
    "resourcePoolInfo": _failure(errors.NoSuchResourcePool),
    "resourcePoolBuckets": _failure(errors.NoSuchResourcePool),
    "requesterQosInfo": _failure(errors.NoSuchResourcePool),
    "resourcePool": _document("ListResourcePoolsResult", {"IsTruncated": False, "ResourcePool": []}),
}


def _in_bucket(reply: Reply) -> Reply:
    """The bucket must exist: a missing one is NoSuchBucket whatever the feature."""

    async def handler(ctx: Context) -> Response:
        await ctx.state.store.bucket(ctx.require_bucket())
        return await reply(ctx)

    return handler


def _on_object(reply: Reply) -> Reply:
    async def handler(ctx: Context) -> Response:
        await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
        return await reply(ctx)

    return handler


async def _reset(ctx: Context) -> Response:
    return empty(204)


def _register(method: str, scope: Scope, table: Mapping[str, Reply], wrap: Callable[[Reply], Reply]) -> None:
    for subresource, reply in table.items():
        router.route(method, scope, subresource)(wrap(reply))


_register("GET", "bucket", BUCKET_READS, _in_bucket)
_register("DELETE", "bucket", dict.fromkeys(BUCKET_RESETS, _reset), _in_bucket)
_register("GET", "object", OBJECT_READS, _on_object)
_register("GET", "object", {"live": NO_LIVE_CHANNEL, "vod": NO_LIVE_CHANNEL}, _in_bucket)
_register("DELETE", "object", {"live": NO_LIVE_CHANNEL}, _in_bucket)
_register("GET", "service", SERVICE_READS, lambda reply: reply)
