from __future__ import annotations

import xml.etree.ElementTree as ET

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


def test_error_body_carries_what_xml_cannot() -> None:
    key = "a\x00b\x01c\x1f\ud800d\ufffe\ttab\r\n\u4e2d"
    body = xml.error_body(errors.NoSuchKey(Key=key), "RID", "h\x07ost")
    root = ET.fromstring(body)
    assert root.findtext("Key") == "a%00b%01c%1F%uD800d%uFFFE\ttab\n\u4e2d"  # (XML reads \r\n as \n)
    assert root.findtext("HostId") == "h%07ost"


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="GBK"?><Tagging/>',
        b"<?xml version='1.0' encoding='latin-1'?><Tagging/>",
        b"<Tagging><TagSet><Tag><Key>\xff</Key></Tag></TagSet></Tagging>",
        b"<Tagging>\xe4\xb8</Tagging>",
    ],
)
def test_documents_not_in_utf8_are_malformed(body: bytes) -> None:
    with pytest.raises(errors.MalformedXML):
        xml.parse(body)
    with pytest.raises(errors.MalformedXML):
        xml.parse_lenient(body)


def test_utf8_declarations_are_fine() -> None:
    for declaration in (
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b"<?xml version='1.0' encoding='utf-8'?>",
        b"",
    ):
        assert xml.parse(declaration + "<Tagging>\u4e2d</Tagging>".encode()).text == "\u4e2d"
