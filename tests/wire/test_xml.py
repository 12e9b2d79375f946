from __future__ import annotations

import pytest

from ossdoc import errors
from ossdoc.wire import xml


def test_document_shape() -> None:
    body = xml.document("R", {"A": "1", "B": [{"C": "x"}, {"C": "y"}], "D": None, "E": True})
    assert (
        body
        == b'<?xml version="1.0" encoding="UTF-8"?>\n<R><A>1</A><B><C>x</C></B><B><C>y</C></B><E>true</E></R>'
    )


def test_error_body_has_request_id_and_details() -> None:
    body = xml.error_body(errors.NoSuchKey(Key="k&<"), "RID", "host")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>')
    assert b"<RequestId>RID</RequestId><HostId>host</HostId><Key>k&amp;&lt;</Key>" in body


def test_unicode_is_written_as_utf8() -> None:
    assert "中文".encode() in xml.document("R", {"K": "中文"})


def test_parse_refuses_entities() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>'
    with pytest.raises(errors.OSSError) as info:
        xml.parse(bomb)
    assert info.value.code == "MalformedXML"


def test_parse_malformed() -> None:
    with pytest.raises(errors.OSSError) as info:
        xml.parse(b"<Delete><Object>")
    assert info.value.code == "MalformedXML"


def test_lenient_parse_keeps_control_characters() -> None:
    root, mapping = xml.parse_lenient(b"<Delete><Object><Key>a\x01b\x1f</Key></Object></Delete>")
    key = xml.child_text(root.find("Object"), "Key")  # type: ignore[arg-type]
    assert key is not None
    assert xml.restore(key, mapping) == "a\x01b\x1f"


def test_encode_key() -> None:
    assert xml.encode_key("a b/中", "url") == "a%20b/%E4%B8%AD"
    assert xml.encode_key("a b", None) == "a b"
