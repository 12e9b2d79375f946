"""OSS errors: one class per wire error code, with its HTTP status on the class.

Services raise these; the wire layer renders them (``ossdoc.wire.xml.error_body``) as the
OSS XML error body. Exception tree::

    OSSError
    ├── AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed (403)
    ├── NoSuchBucket, NoSuchKey, NoSuchUpload, ... (404)
    ├── InvalidArgument, InvalidBucketName, EntityTooLarge, ... (400)
    ├── BucketAlreadyExists, BucketNotEmpty, PositionNotEqualToLength, ... (409)
    └── SlowDown (503), InternalError (500), NotImplemented (501)
"""

from __future__ import annotations

import errno
import sqlite3
from typing import ClassVar


class OSSError(Exception):
    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **details: str) -> None:
        self.message = message or self.default_message
        # Extra child elements of <Error> (e.g. BucketName, Key, StringToSign) and headers.
        self.details = details
        self.headers: dict[str, str] = {}
        super().__init__(self.message)


def define(code: str, status: int, message: str) -> type[OSSError]:
    return type(code, (OSSError,), {"code": code, "status": status, "default_message": message})


# 400
InvalidArgument = define("InvalidArgument", 400, "Invalid argument.")
InvalidBucketName = define("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidObjectName = define("InvalidObjectName", 400, "The name of the object is invalid.")
EntityTooLarge = define("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size.")
EntityTooSmall = define(
    "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed size."
)
InvalidDigest = define("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
InvalidPart = define("InvalidPart", 400, "One or more of the specified parts could not be found.")
InvalidPartOrder = define("InvalidPartOrder", 400, "The list of parts was not in ascending order.")
MalformedXML = define("MalformedXML", 400, "The XML you provided was not well-formed.")
ObjectNotAppendable = define("ObjectNotAppendable", 409, "The object is not appendable.")
PositionNotEqualToLength = define("PositionNotEqualToLength", 409, "Position is not equal to file length.")
FileAlreadyExists = define("FileAlreadyExists", 409, "The object you specified already exists.")
# 403
AccessDenied = define("AccessDenied", 403, "Access denied.")
SignatureDoesNotMatch = define(
    "SignatureDoesNotMatch",
    403,
    "The request signature we calculated does not match the signature you provided.",
)
InvalidAccessKeyId = define(
    "InvalidAccessKeyId", 403, "The OSS Access Key Id you provided does not exist in our records."
)
RequestTimeTooSkewed = define(
    "RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large."
)
# 404
NoSuchBucket = define("NoSuchBucket", 404, "The specified bucket does not exist.")
NoSuchKey = define("NoSuchKey", 404, "The specified key does not exist.")
NoSuchTask = define("NoSuchTask", 404, "The specified asynchronous task does not exist.")
NoSuchUpload = define(
    "NoSuchUpload",
    404,
    "The specified upload does not exist. The upload ID may be invalid, "
    "or the upload may have been aborted or completed.",
)
# 404 of OSS features ossdoc does not have, read on a bucket that never used them (routes/defaults.py)
NoSuchVersion = define("NoSuchVersion", 404, "The specified version does not exist.")
NoSuchLifecycle = define("NoSuchLifecycle", 404, "No Row found in Lifecycle Table.")
NoSuchCORSConfiguration = define("NoSuchCORSConfiguration", 404, "The CORS Configuration does not exist.")
NoSuchWebsiteConfiguration = define(
    "NoSuchWebsiteConfiguration", 404, "The specified bucket does not have a website configuration."
)
NoSuchBucketPolicy = define("NoSuchBucketPolicy", 404, "The specified bucket policy does not exist.")
BucketCallbackPolicyNotExist = define(
    "BucketCallbackPolicyNotExist", 404, "The bucket callback policy does not exist."
)
NoSuchServerSideEncryptionRule = define(
    "NoSuchServerSideEncryptionRule", 404, "The server side encryption configuration was not found."
)
NoSuchInventory = define("NoSuchInventory", 404, "No Row found in Inventory Table.")
NoSuchWORMConfiguration = define("NoSuchWORMConfiguration", 404, "The WORM Configuration does not exist.")
NoSuchReplicationConfiguration = define(
    "NoSuchReplicationConfiguration", 404, "The bucket you specified does not have replication configuration."
)
NoSuchReplicationRule = define(
    "NoSuchReplicationRule", 404, "The BucketReplicationRule you specified does not exist."
)
NoSuchTransferAccelerationConfiguration = define(
    "NoSuchTransferAccelerationConfiguration",
    404,
    "The bucket you specified does not have transfer acceleration configuration.",
)
NoSuchLiveChannel = define("NoSuchLiveChannel", 404, "The specified live channel does not exist.")
NoSuchStyle = define("NoSuchStyle", 404, "No Such Image Style")
CnameTokenNotFound = define("CnameTokenNotFound", 404, "Cname token not found.")
MetaQueryNotExist = define(
    "MetaQueryNotExist", 404, "The metadata index library of the bucket does not exist."
)
NoSuchAccessPoint = define("NoSuchAccessPoint", 404, "Accesspoint not found")
NoSuchResourcePool = define("NoSuchResourcePool", 404, "The specified resource pool does not exist.")
NoSuchRegion = define("NoSuchRegion", 404, "The specified region does not exist.")
# The OSS reference documents these reads as a plain 404 without naming the code.
NoSuchDataRedundancyTransition = define(
    "NoSuchDataRedundancyTransition", 404, "The specified data redundancy transition task does not exist."
)
NoSuchAsyncFetchTask = define("NoSuchAsyncFetchTask", 404, "The specified async fetch task does not exist.")
NoSuchOverwriteConfiguration = define(
    "NoSuchOverwriteConfiguration", 404, "The bucket has no overwrite configuration."
)
NoSuchUserDefinedLogFieldsConfig = define(
    "NoSuchUserDefinedLogFieldsConfig", 404, "The bucket has no user defined log fields configuration."
)
NoSuchMetadataConfiguration = define(
    "NoSuchMetadataConfiguration", 404, "The bucket has no metadata configuration."
)
NotSymlink = define("NotSymlink", 400, "The specified object is not a symlink.")
# 405, 409, 411, 412, 416
MethodNotAllowed = define(
    "MethodNotAllowed", 405, "The specified method is not allowed against this resource."
)
BucketAlreadyExists = define("BucketAlreadyExists", 409, "The requested bucket name is not available.")
BucketNotEmpty = define("BucketNotEmpty", 409, "The bucket you tried to delete is not empty.")
PreconditionFailed = define(
    "PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold."
)
InvalidRange = define("InvalidRange", 416, "The requested range cannot be satisfied.")
# 5xx
InternalError = define("InternalError", 500, "We encountered an internal error. Please try again.")
NotImplementedError_ = define(
    "NotImplemented", 501, "A header you provided implies functionality that is not implemented."
)
SlowDown = define("SlowDown", 503, "Please reduce your request rate.")
ServiceUnavailable = define("ServiceUnavailable", 503, "The service is unavailable. Please try again.")


class NotModified(OSSError):
    """304 for If-None-Match / If-Modified-Since: rendered with no body."""

    code = "NotModified"
    status = 304
    default_message = "Not Modified"


DISK_FULL_MESSAGE = (
    "The server's storage is full: nothing of this request was stored and earlier objects are intact. "
    "Retry once space has been freed."
)


def storage_full(exc: BaseException) -> OSSError | None:
    """The OSS error for a write that failed because the data directory's filesystem is full (or
    over quota), from the exception or one it was raised from; None for any other failure.

    OSS documents no code for a full disk (507 is not an OSS status and the SDKs do not know it):
    InternalError (500), which both SDKs treat as a retryable server failure, with a clear message."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return InternalError(DISK_FULL_MESSAGE)
        if (
            isinstance(current, sqlite3.Error)
            and getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        ):
            return InternalError(DISK_FULL_MESSAGE)
        current = current.__cause__ or current.__context__
    return None
