"""Service-level operations: ListBuckets."""

from __future__ import annotations

from starlette.responses import Response

from ossdoc.backends.storage.base import Bucket
from ossdoc.wire.context import Context
from ossdoc.wire.routes.common import int_param, iso8601, owner, xml_reply
from ossdoc.wire.routing import Router

router = Router()


def bucket_summary(ctx: Context, bucket: Bucket) -> dict[str, str]:
    settings = ctx.state.settings
    return {
        "CreationDate": iso8601(bucket.created),
        "ExtranetEndpoint": settings.endpoint,
        "IntranetEndpoint": settings.endpoint,
        "Location": f"oss-{settings.region}",
        "Name": bucket.name,
        "Region": settings.region,
        "StorageClass": bucket.storage_class,
    }


@router.route("GET", "service")
async def list_buckets(ctx: Context) -> Response:
    prefix = ctx.query.get("prefix", "")
    marker = ctx.query.get("marker", "")
    max_keys = int_param(ctx, "max-keys", 100, 1, 1000)
    buckets, truncated = await ctx.state.store.list_buckets(prefix, marker, max_keys)
    body: dict[str, object] = {"Owner": owner(ctx)}
    if prefix or marker or "max-keys" in ctx.query:
        body.update({"Prefix": prefix, "Marker": marker, "MaxKeys": str(max_keys)})
        body["IsTruncated"] = truncated
        if truncated:
            body["NextMarker"] = buckets[-1].name
    body["Buckets"] = {"Bucket": [bucket_summary(ctx, b) for b in buckets]}
    return xml_reply("ListAllMyBucketsResult", body)
