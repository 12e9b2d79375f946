"""Request authentication: OSS signatures V1 and V4, in the Authorization header or a presigned URL.

The two official SDKs do not canonicalize requests identically: for V1 they sign different sets of
sub-resources (oss2 signs ``x-oss-process``, alibabacloud-oss-v2 does not), and for V4 oss2 encodes
the canonical query from decoded parameters while the v2 SDK takes the query as it is on the wire
(``/`` left unescaped). A signature is accepted when it matches one of those canonical forms; each is
exactly what an SDK computes, so this admits nothing a correct signer would not produce."""

from __future__ import annotations

from ossdoc import errors
from ossdoc.wire import auth_v1, auth_v4
from ossdoc.wire.signing import KeyStore, SignedRequest

__all__ = ["KeyStore", "SignedRequest", "authenticate"]


def authenticate(
    req: SignedRequest, keys: KeyStore, *, region: str, now: float, max_skew: int = 900
) -> str | None:
    """The access key id of a correctly signed request; None for an anonymous one; raise otherwise."""
    authorization = req.headers.get("authorization", "")
    params = dict(req.query)
    if authorization.startswith(auth_v4.ALGORITHM):
        return auth_v4.verify_header(req, authorization, keys, now, max_skew)
    if authorization.startswith("OSS "):
        return auth_v1.verify_header(req, authorization, keys, now, max_skew)
    if authorization:
        raise errors.InvalidArgument("Authorization header is invalid.", ArgumentName="Authorization")
    if params.get("x-oss-signature-version") == auth_v4.ALGORITHM:
        return auth_v4.verify_query(req, keys, now)
    if "OSSAccessKeyId" in params or "Signature" in params:
        return auth_v1.verify_query(req, keys, now)
    return None
