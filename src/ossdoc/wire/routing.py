"""Dispatch of OSS requests: (method, scope, sub-resource) → handler.

OSS addresses one resource per URL and selects the operation by HTTP method plus the sub-resource
present in the query (``?acl``, ``?uploads``, ``?uploadId=…``, ``?x-oss-process``), so routes are a
table keyed on those rather than on paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

    def route(
        self, method: str, scope: Scope, subresource: str | None = None, *, anonymous: Anonymous = None
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, scope, subresource, handler, anonymous))
            return handler

        return register

    def include(self, other: Router) -> None:
        self.routes.extend(other.routes)

    def resolve(self, method: str, scope: Scope, query: set[str]) -> Route:
        """The route for a sub-resource present in the query, else the plain one.

        Routes registered first win when several of their sub-resources are present."""
        plain: Route | None = None
        for route in self.routes:
            if route.method != method or route.scope != scope:
                continue
            if route.subresource is None:
                plain = plain or route
            elif route.subresource in query:
                return route
        if plain is None or unsupported_subresource(query):
            raise _unsupported(method, scope, query)
        return plain


# Sub-resources of OSS features ossdoc does not implement. GET of a bucket configuration answers
# the error OSS gives for an unconfigured bucket; anything else is NotImplemented.
UNCONFIGURED = {
    "lifecycle": ("NoSuchLifecycle", "No Row found in Lifecycle Table."),
    "cors": ("NoSuchCORSConfiguration", "The CORS Configuration does not exist."),
    "website": ("NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration."),
    "policy": ("NoSuchBucketPolicy", "The bucket policy does not exist."),
    "encryption": (
        "NoSuchServerSideEncryptionRule",
        "The server side encryption configuration was not found.",
    ),
    "replication": ("NoSuchReplicationConfiguration", "The replication configuration was not found."),
    "inventory": ("NoSuchInventory", "The inventory configuration was not found."),
    "worm": ("NoSuchWORMConfiguration", "The WORM configuration was not found."),
    "qos": ("NoSuchQoSConfiguration", "The QoS configuration was not found."),
}
NOT_IMPLEMENTED = {
    "live",
    "symlink",
    "restore",
    "logging",
    "referer",
    "versioning",
    "versions",
    "versionId",
    "requestPayment",
    "transferAcceleration",
    "img",
    "style",
    "cname",
    "stat",
    "select",
    "x-oss-async-process",
    "objectInfo",
    "accessPoint",
    "resourceGroup",
    "asyncFetch",
    "rtc",
}


def unsupported_subresource(query: set[str]) -> bool:
    return bool(query & NOT_IMPLEMENTED or query & UNCONFIGURED.keys())


def _unsupported(method: str, scope: Scope, query: set[str]) -> errors.OSSError:
    configured = sorted(query & UNCONFIGURED.keys())
    if configured and method == "GET" and scope == "bucket":
        code, message = UNCONFIGURED[configured[0]]
        return errors.define(code, 404, message)()
    unsupported = sorted(query & (NOT_IMPLEMENTED | UNCONFIGURED.keys()))
    if unsupported:
        names = ", ".join(unsupported)
        return errors.NotImplementedError_(f"ossdoc does not implement this operation ({names}).")
    return errors.MethodNotAllowed()
