"""OSS naming rules for buckets."""

from __future__ import annotations

import re

from ossdoc import errors

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
ACLS = {"private", "public-read", "public-read-write"}
OBJECT_ACLS = ACLS | {"default"}
STORAGE_CLASSES = {"Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"}


def check_bucket_name(name: str) -> None:
    if not _BUCKET.match(name):
        raise errors.InvalidBucketName(
            "The bucket name must be 3-63 characters of lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit.",
            BucketName=name,
        )


def check_acl(acl: str, allowed: set[str] = ACLS) -> str:
    if acl not in allowed:
        raise errors.InvalidArgument(
            f"The ACL {acl!r} is not valid.", ArgumentName="x-oss-acl", ArgumentValue=acl
        )
    return acl
