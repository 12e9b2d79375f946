"""Dispatch of OSS requests: (method, scope, sub-resource) → handler.

OSS addresses one resource per URL and selects the operation by HTTP method plus the sub-resource
present in the query (``?acl``, ``?uploads``, ``?uploadId=…``, ``?x-oss-process``), so routes are a
table keyed on those rather than on paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from starlette.responses import Response

from ossdoc import errors

if TYPE_CHECKING:
    from ossdoc.wire.context import Context

Scope = Literal["service", "bucket", "object"]
# What an anonymous caller needs for this route: None = never allowed.
Anonymous = Literal["read", "write"] | None
Handler = Callable[["Context"], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    scope: Scope
    subresource: str | None
    handler: Handler
    anonymous: Anonymous


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        # (method, scope) → its routes in registration order; built at the first request.
        self._table: dict[tuple[str, Scope], list[Route]] | None = None

    def route(
        self, method: str, scope: Scope, subresource: str | None = None, *, anonymous: Anonymous = None
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, scope, subresource, handler, anonymous))
            self._table = None
            return handler

        return register

    def include(self, other: Router) -> None:
        self.routes.extend(other.routes)
        self._table = None

    def resolve(self, method: str, scope: Scope, query: AbstractSet[str]) -> Route:
        """The route for a sub-resource present in the query, else the plain one.

        Routes registered first win when several of their sub-resources are present."""
        if self._table is None:
            table: dict[tuple[str, Scope], list[Route]] = {}
            for route in self.routes:
                table.setdefault((route.method, route.scope), []).append(route)
            self._table = table
        plain: Route | None = None
        for route in self._table.get((method, scope), ()):
            if route.subresource is None:
                plain = plain or route
            elif route.subresource in query:
                return route
        if plain is None or unsupported_subresource(query):
            raise _unsupported(method, scope, query)
        return plain


# Sub-resources of OSS features ossdoc does not implement. Reading one answers as OSS does for a
# bucket that never used it (routes/defaults.py); a request that reaches the plain route of its
# scope with one of these (a write that would turn the feature on) is NotImplemented.
NOT_IMPLEMENTED = frozenset(
    {
        "lifecycle", "cors", "website", "policy", "encryption", "replication", "inventory", "worm",
        "wormId", "wormExtend", "qos", "qosInfo", "live", "vod", "symlink", "restore", "logging",
        "referer", "versioning", "versions", "requestPayment", "transferAcceleration", "img", "style",
        "cname", "select", "objectInfo", "accessPoint", "accessPointPolicy", "resourceGroup",
        "asyncFetch", "rtc", "tagging", "accessmonitor", "bucketArchiveDirectRead", "httpsConfig",
        "redundancyTransition", "publicAccessBlock", "requesterQosInfo", "metaQuery", "quota",
        "overwriteConfig", "objectWorm", "userDefinedLogFieldsConfig", "metadataConfiguration",
        "retention", "legalHold", "replicationLocation", "replicationProgress", "policyStatus",
        "resourcePool", "resourcePoolInfo", "resourcePoolBuckets", "regions", "cloudboxes", "stat",
        "x-oss-async-process",
    }
)  # fmt: skip


def unsupported_subresource(query: AbstractSet[str]) -> bool:
    return bool(query & NOT_IMPLEMENTED)


def _unsupported(method: str, scope: Scope, query: AbstractSet[str]) -> errors.OSSError:
    unsupported = sorted(query & NOT_IMPLEMENTED)
    if unsupported:
        names = ", ".join(unsupported)
        return errors.NotImplementedError_(f"ossdoc does not implement this operation ({names}).")
    return errors.MethodNotAllowed()
