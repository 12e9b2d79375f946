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


def missing(code: str, message: str) -> errors.OSSError:
    return errors.define(code, 404, message)()


def _document(tag: str, children: Mapping[str, Any]) -> Reply:
    async def reply(ctx: Context) -> Response:
        return xml_reply(tag, children)

    return reply


def _failure(error: type[errors.OSSError]) -> Reply:
    async def reply(ctx: Context) -> Response:
        raise error()

    return reply


def _error(code: str, message: str) -> Reply:
    return _failure(errors.define(code, 404, message))


NO_ACCESS_POINTS = {"IsTruncated": False, "MaxKeys": "100", "AccessPoints": {}}
NO_ACCESS_POINT = ("NoSuchAccessPoint", "Accesspoint not found")
NO_RESOURCE_POOL = ("NoSuchResourcePool", "The specified resource pool does not exist.")


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
        raise missing("CnameTokenNotFound", "Cname token not found.")
    return xml_reply("ListCnameResult", {"Bucket": ctx.require_bucket(), "Owner": owner(ctx)["ID"]})


async def _style(ctx: Context) -> Response:
    if "styleName" in ctx.query:
        raise missing("NoSuchStyle", "No Such Image Style")
    return xml_reply("StyleList", {})


async def _policy(ctx: Context) -> Response:
    if ctx.query.get("comp") == "callback":
        raise missing("BucketCallbackPolicyNotExist", "The bucket callback policy does not exist.")
    raise missing("NoSuchBucketPolicy", "The specified bucket policy does not exist.")


def _access_point_name(ctx: Context) -> str | None:
    return ctx.headers.get("x-oss-access-point-name") or ctx.query.get("x-oss-access-point-name")


async def _access_points(ctx: Context) -> Response:
    if _access_point_name(ctx):
        raise missing(*NO_ACCESS_POINT)
    return xml_reply("ListAccessPointsResult", NO_ACCESS_POINTS)


async def _public_access_block(ctx: Context) -> Response:
    if _access_point_name(ctx):
        raise missing(*NO_ACCESS_POINT)
    return xml_reply("PublicAccessBlockConfiguration", {"BlockPublicAccess": False})


async def _redundancy_transitions(ctx: Context) -> Response:
    if ctx.headers.get("x-oss-redundancy-transition-taskid") or ctx.query.get(
        "x-oss-redundancy-transition-taskid"
    ):
        raise missing(
            "NoSuchDataRedundancyTransition", "The specified data redundancy transition does not exist."
        )
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
    "accessPointPolicy": _error(*NO_ACCESS_POINT),
    "accessPoint": _access_points,
    "publicAccessBlock": _public_access_block,
    "redundancyTransition": _redundancy_transitions,
    "requesterQosInfo": _requester_qos,
    "lifecycle": _error("NoSuchLifecycle", "No Row found in Lifecycle Table."),
    "cors": _error("NoSuchCORSConfiguration", "The CORS Configuration does not exist."),
    "website": _error(
        "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration."
    ),
    "encryption": _error(
        "NoSuchServerSideEncryptionRule", "The server side encryption configuration was not found."
    ),
    "inventory": _error("NoSuchInventory", "No Row found in Inventory Table."),
    "worm": _error("NoSuchWORMConfiguration", "The WORM Configuration does not exist."),
    "replicationProgress": _error(
        "NoSuchReplicationRule", "The BucketReplicationRule you specified does not exist."
    ),
    "replication": _error(
        "NoSuchReplicationConfiguration", "The bucket you specified does not have replication configuration."
    ),
    "transferAcceleration": _error(
        "NoSuchTransferAccelerationConfiguration",
        "The bucket you specified does not have transfer acceleration configuration.",
    ),
    "metaQuery": _error("MetaQueryNotExist", "The meta query does not exist."),
    "overwriteConfig": _error("NoSuchOverwriteConfiguration", "The bucket has no overwrite configuration."),
    "userDefinedLogFieldsConfig": _error(
        "NoSuchUserDefinedLogFieldsConfig", "The user defined log fields configuration does not exist."
    ),
    "metadataConfiguration": _error(
        "NoSuchMetadataConfiguration", "The metadata configuration does not exist."
    ),
    "asyncFetch": _error("NoSuchAsyncFetchTask", "The specified async fetch task does not exist."),
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
    "symlink": _failure(errors.define("NotSymlink", 400, "The specified object is not a symlink.")),
    "retention": _document("Retention", {}),
    "legalHold": _document("LegalHold", {"Status": "OFF"}),
}
# Live channels are addressed as objects by the SDKs (GET/DELETE /<bucket>/<channel>?live).
NO_LIVE_CHANNEL = _error("NoSuchLiveChannel", "The specified live channel does not exist.")


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
        raise missing("NoSuchRegion", f"The region {wanted} does not exist.")
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
    "resourcePoolInfo": _error(*NO_RESOURCE_POOL),
    "resourcePoolBuckets": _error(*NO_RESOURCE_POOL),
    "requesterQosInfo": _error(*NO_RESOURCE_POOL),
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
