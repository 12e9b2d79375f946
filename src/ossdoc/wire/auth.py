"""Request authentication: OSS signatures V1 and V4, in the Authorization header or a presigned URL.

The two official SDKs do not canonicalize requests identically: for V1 they sign different sets of
sub-resources (oss2 signs ``x-oss-process``, alibabacloud-oss-v2 does not), and for V4 oss2 encodes
the canonical query from decoded parameters while the v2 SDK hashes the query as it is on the wire.
A signature is accepted when it matches one of those canonical forms; each is exactly what an SDK
computes, so this admits nothing a correct signer would not produce."""

from __future__ import annotations

from ossdoc import errors
from ossdoc.wire import auth_v1, auth_v4
from ossdoc.wire.signing import KeyStore, SignedRequest

__all__ = ["KeyStore", "SignedRequest", "authenticate"]

# Query parameters of presigned URLs other than V1 and V4 (oss2's AuthV2 signs "OSS2" URLs).
_OTHER_PRESIGN = ("x-oss-signature", "x-oss-credential", "x-oss-access-key-id")


def authenticate(
    req: SignedRequest, keys: KeyStore, *, region: str, now: float, max_skew: int = 900
) -> str | None:
    """The access key id of a correctly signed request; None for an anonymous one; raise otherwise.

    ``region`` is this server's; V4 keys are derived from the region in the client's scope."""
    authorization = req.headers.get("authorization", "")
    if authorization:
        scheme = authorization.split(" ", 1)[0]
        if scheme == auth_v4.ALGORITHM:
            return auth_v4.verify_header(req, authorization, keys, now, max_skew)
        if scheme == "OSS":
            return auth_v1.verify_header(req, authorization, keys, now, max_skew)
        raise errors.InvalidArgument(
            f"Authorization scheme {scheme!r} is not supported: sign with OSS (V1) or {auth_v4.ALGORITHM}.",
            ArgumentName="Authorization",
        )
    params = dict(req.query)
    version = params.get("x-oss-signature-version")
    if version == auth_v4.ALGORITHM:
        return auth_v4.verify_query(req, keys, now, max_skew)
    if version is not None or any(name in params for name in _OTHER_PRESIGN):
        raise errors.InvalidArgument(
            f"Presigned URLs must be signed with V1 or {auth_v4.ALGORITHM}.",
            ArgumentName="x-oss-signature-version",
        )
    if "OSSAccessKeyId" in params or "Signature" in params:
        return auth_v1.verify_query(req, keys, now)
    return None
