"""OSS XML bodies: building replies, rendering errors, parsing client documents safely."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from defusedxml import ElementTree as SafeET

from ossdoc import errors

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
XmlValue = str | int | None | Iterable[Any] | Mapping[str, Any]
# What XML 1.0 cannot carry, even escaped: most C0 controls, lone surrogates (from undecodable
# bytes), U+FFFE and U+FFFF.
_UNCARRIABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def safe_text(value: str) -> str:
    """``value`` as XML text: characters XML cannot carry become ``%XX`` (``%uXXXX`` past a byte),
    so an error that echoes a key, header or parameter stays well-formed and shows what was sent."""
    return _UNCARRIABLE.sub(
        lambda m: f"%{ord(m.group()):02X}" if ord(m.group()) < 0x100 else f"%u{ord(m.group()):04X}", value
    )


def element(tag: str, children: Mapping[str, Any] | None = None, text: str | None = None) -> ET.Element:
    """Build an element from a mapping: a str/int value is a text child, a Mapping a nested element,
    a list repeats the tag, None is skipped."""
    node = ET.Element(tag)
    if text is not None:
        node.text = safe_text(text)
    for name, value in (children or {}).items():
        append(node, name, value)
    return node


def append(parent: ET.Element, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, ET.Element):
        parent.append(value)
    elif isinstance(value, Mapping):
        parent.append(element(name, value))
    elif isinstance(value, list | tuple):
        for item in value:
            append(parent, name, item)
    elif isinstance(value, bool):
        ET.SubElement(parent, name).text = "true" if value else "false"
    else:
        ET.SubElement(parent, name).text = safe_text(str(value))


def to_bytes(root: ET.Element) -> bytes:
    return DECLARATION + ET.tostring(root, encoding="unicode").encode()


def document(tag: str, children: Mapping[str, Any]) -> bytes:
    return to_bytes(element(tag, children))


def error_body(err: errors.OSSError, request_id: str, host_id: str) -> bytes:
    children: dict[str, Any] = {"Code": err.code, "Message": err.message, "RequestId": request_id}
    children["HostId"] = host_id
    children.update(err.details)
    return document("Error", children)


def encode_key(value: str, encoding_type: str | None) -> str:
    """Keys in listings: with ``encoding-type=url`` OSS percent-encodes everything but ``/``-safe
    unreserved characters (the SDKs ``unquote`` them back)."""
    return quote(value, safe="/") if encoding_type == "url" else value


def parse(body: bytes) -> ET.Element:
    """Parse a client document; entity expansion and DTDs are refused. OSS documents are UTF-8:
    another declared encoding, or bytes that are not UTF-8, are malformed."""
    declared = _DECLARED_ENCODING.match(body)
    if declared and declared.group(1).strip().lower() != b"utf-8":
        raise errors.MalformedXML("The XML you provided must be encoded in UTF-8.")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.MalformedXML("The XML you provided is not valid UTF-8.") from exc
    try:
        root: ET.Element = SafeET.fromstring(body)
    except Exception as exc:  # ParseError, DTDForbidden, EntitiesForbidden, ...
        raise errors.MalformedXML() from exc
    return root


# XML 1.0 forbids most control characters, but SDKs put keys with them into batch-delete bodies
# verbatim (ElementTree escapes only &, <, >). Turn them into private-use placeholders before
# parsing and back afterwards so such keys can still be deleted.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PLACEHOLDER_BASE = 0xF0000  # Supplementary Private Use Area-A


def parse_lenient(body: bytes) -> tuple[ET.Element, dict[str, str]]:
    try:
        document = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise errors.MalformedXML("The XML you provided is not valid UTF-8.") from exc
    mapping: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        placeholder = chr(_PLACEHOLDER_BASE + ord(match.group()))
        mapping[placeholder] = match.group()
        return placeholder

    return parse(_INVALID_XML_CHARS.sub(swap, document).encode()), mapping


def restore(text: str, mapping: Mapping[str, str]) -> str:
    for placeholder, original in mapping.items():
        text = text.replace(placeholder, original)
    return text


def child_text(node: ET.Element, tag: str, default: str | None = None) -> str | None:
    found = node.find(tag)
    if found is None:
        return default
    return found.text or ""
