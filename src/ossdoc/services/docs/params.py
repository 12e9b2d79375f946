"""The process string: ``x-oss-process=<action>,<key>_<value>,...`` in a POST body, and the decoders
of its Base64 values.

The body is one form field. OSS SDKs send it unencoded (``oss2`` and ``alibabacloud_oss_v2`` both
write ``x-oss-process=`` + the string), browsers and curl may percent-encode it, so the value is
percent-decoded once, but ``+`` is kept: it never stands for a space here (no value may hold one),
while a client that sends standard Base64 means a ``+``."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import unquote

from ossdoc import errors

FIELD = "x-oss-process"


@dataclass(frozen=True)
class SaveAs:
    """``|sys/saveas,o_<key>,b_<bucket>``: store the result as an object (bucket None: the same)."""

    key: str
    bucket: str | None


@dataclass(frozen=True)
class ProcessString:
    action: str
    params: dict[str, str]  # raw values, in request order
    save_as: SaveAs | None = None


def form_value(body: bytes, field: str = FIELD) -> str:
    """The value of the single ``field`` (``x-oss-process``, or ``x-oss-async-process``) of a form
    body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidArgument("The request body is not valid UTF-8.") from exc
    values = []
    for part in text.strip().split("&"):
        name, sep, value = part.partition("=")
        if sep and unquote(name) == field:
            values.append(unquote(value))
    if not values:
        raise errors.InvalidArgument(
            f"The request body must be the form field {field}=<action>,<key>_<value>,...",
            ArgumentName=field,
        )
    if len(values) > 1:
        raise errors.InvalidArgument(f"The form field {field} appears more than once.", ArgumentName=field)
    return values[0]


def split(process: str) -> ProcessString:
    """``doc/translate,language_en_US,format_event-stream`` → action and parameters.

    The FIRST underscore separates a key from its value (``format_event-stream``, and Base64 values
    may themselves contain ``_``); empty segments (a trailing comma) are ignored."""
    process, *chain = process.strip().split("|")
    save_as = _save_as(chain)
    action, *segments = process.split(",")
    action = action.strip()
    if not action:
        raise errors.InvalidArgument(f"{FIELD} names no action.", ArgumentName=FIELD)
    params: dict[str, str] = {}
    for segment in segments:
        if not segment:
            continue
        key, sep, value = segment.partition("_")
        if not sep or not key:
            shown = segment if len(segment) <= 40 else segment[:40] + "..."
            raise errors.InvalidArgument(
                f"The parameter '{shown}' is not of the form <name>_<value>.", ArgumentName=FIELD
            )
        if key in params:
            raise errors.InvalidArgument(f"The parameter {key} is given more than once.", ArgumentName=key)
        params[key] = value
    return ProcessString(action, params, save_as)


def _save_as(chain: list[str]) -> SaveAs | None:
    """OSS's saveas step; any other chained step is unknown, as OSS answers an unknown process."""
    if not chain:
        return None
    step, *segments = chain[0].strip().split(",")
    if len(chain) > 1 or step != "sys/saveas":
        raise errors.InvalidArgument(
            "ossdoc chains only one step after '|': sys/saveas.", ArgumentName=FIELD, ArgumentValue=step[:64]
        )
    fields = dict(segment.partition("_")[::2] for segment in segments if segment)
    unknown = set(fields) - {"o", "b"}
    if unknown or "o" not in fields:
        raise errors.InvalidArgument(
            "sys/saveas takes o_<URL-safe Base64 object key> and optionally b_<URL-safe Base64 bucket>.",
            ArgumentName="sys/saveas",
        )
    key = base64_text("o", fields["o"], 1023)
    bucket = base64_text("b", fields["b"], 63) if "b" in fields else None
    return SaveAs(key, bucket)


def base64_bytes(name: str, value: str, limit: int) -> bytes:
    """URL-safe Base64 (``-``/``_``; standard ``+``/``/`` also accepted), with or without ``=``
    padding, decoded to at most ``limit`` bytes."""
    # Checked before decoding so an oversized value costs nothing: 4 characters carry 3 bytes.
    if len(value.rstrip("=")) > (limit + 2) // 3 * 4:
        raise _too_large(name, limit)
    data = value.rstrip("=").replace("+", "-").replace("/", "_")
    if len(data) % 4 == 1:
        raise errors.InvalidArgument(f"{name} is not valid URL-safe Base64.", ArgumentName=name)
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidArgument(f"{name} is not valid URL-safe Base64.", ArgumentName=name) from exc
    if len(raw) > limit:
        raise _too_large(name, limit)
    return raw


def base64_text(name: str, value: str, limit: int) -> str:
    """A non-empty UTF-8 text in URL-safe Base64."""
    raw = base64_bytes(name, value, limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidArgument(f"{name} is not UTF-8 text once decoded.", ArgumentName=name) from exc
    if not text.strip():
        raise errors.InvalidArgument(f"{name} is empty.", ArgumentName=name)
    return text


def base64_history(name: str, value: str, limit: int) -> tuple[str, ...]:
    """Earlier generations: Base64 of a JSON array ``[{"content": "..."}, ...]`` (Alibaba's format)."""
    text = base64_text(name, value, limit)
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise _bad_history(name) from exc
    if not isinstance(items, list):
        raise _bad_history(name)
    history: list[str] = []
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(content, str):
            raise _bad_history(name)
        if content.strip():
            history.append(content)
    return tuple(history)


def _too_large(name: str, limit: int) -> errors.OSSError:
    return errors.InvalidArgument(f"{name} exceeds {limit} bytes once decoded.", ArgumentName=name)


def _bad_history(name: str) -> errors.OSSError:
    return errors.InvalidArgument(
        f'{name} must be URL-safe Base64 of a JSON array like [{{"content":"..."}}].', ArgumentName=name
    )
