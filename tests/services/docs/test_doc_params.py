from __future__ import annotations

import base64
import json

import pytest

from ossdoc import errors
from ossdoc.services.docs import OPERATIONS, Limits
from ossdoc.services.docs.params import base64_history, base64_text, form_value, split

LIMITS = Limits(content_bytes=100, history_bytes=400)


def b64(text: str, pad: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(text.encode()).decode()
    return encoded if pad else encoded.rstrip("=")


def resolve(process: str, limits: Limits = LIMITS):  # type: ignore[no-untyped-def]
    return OPERATIONS.resolve(split(process), limits)


def test_form_value_plain_and_percent_encoded() -> None:
    assert form_value(b"x-oss-process=doc/translate,language_en_US") == "doc/translate,language_en_US"
    assert form_value(b"x-oss-process=doc%2Ftranslate%2Clanguage_en_US%2Ccontent_YQ%3D%3D") == (
        "doc/translate,language_en_US,content_YQ=="
    )
    # '+' is kept: no value holds a space, a standard-Base64 client means '+'.
    assert form_value(b"x-oss-process=doc/polish,content_a+b") == "doc/polish,content_a+b"
    assert form_value(b"other=1&x-oss-process=doc/polish") == "doc/polish"


@pytest.mark.parametrize("body", [b"", b"doc/translate,language_en_US", b"x-oss-process", b"\xff\xfe"])
def test_form_value_missing_or_bad(body: bytes) -> None:
    with pytest.raises(errors.InvalidArgument):
        form_value(body)


def test_form_value_twice() -> None:
    with pytest.raises(errors.InvalidArgument, match="more than once"):
        form_value(b"x-oss-process=doc/polish&x-oss-process=doc/summarize")


def test_first_underscore_splits_key_and_value() -> None:
    parsed = split("doc/translate,language_en_US,format_event-stream,content_a_b-c")
    assert parsed.action == "doc/translate"
    assert parsed.params == {"language": "en_US", "format": "event-stream", "content": "a_b-c"}


def test_empty_segments_are_ignored() -> None:
    assert split("doc/polish,,content_YQ,").params == {"content": "YQ"}


@pytest.mark.parametrize("process", ["", ",content_YQ", "doc/polish,content", "doc/polish,_x"])
def test_malformed_process_strings(process: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        split(process)


def test_duplicate_parameter_names_it() -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        split("doc/translate,language_en_US,language_fr_FR")
    assert info.value.details["ArgumentName"] == "language"


def test_saveas_is_the_one_chained_step() -> None:
    parsed = split("doc/translate,language_en_US|sys/saveas,o_b3V0LnR4dA,b_YnVja2V0")
    assert parsed.params == {"language": "en_US"}
    assert parsed.save_as is not None
    assert (parsed.save_as.key, parsed.save_as.bucket) == ("out.txt", "bucket")
    assert split("doc/polish|sys/saveas,o_eA").save_as.bucket is None  # type: ignore[union-attr]
    with pytest.raises(errors.InvalidArgument):
        split("doc/translate,language_en_US|image/resize,w_1")
    with pytest.raises(errors.InvalidArgument):
        split("doc/polish|sys/saveas,o_eA|sys/saveas,o_eA")


@pytest.mark.parametrize("pad", [True, False])
def test_content_with_or_without_padding(pad: bool) -> None:
    for text in ("a", "ab", "abc", "四大名著", "x" * 100):
        assert base64_text("content", b64(text, pad), 100) == text


def test_content_url_safe_and_standard_alphabets() -> None:
    text = "\u00fb\u00ff\u00fe?>"  # encodes to bytes whose Base64 uses - and _ (or + and /)
    safe = b64(text)
    assert "-" in safe or "_" in safe
    assert base64_text("content", safe, 100) == text
    standard = base64.b64encode(text.encode()).decode()
    assert base64_text("content", standard, 100) == text


def test_content_limit_is_on_decoded_bytes() -> None:
    assert base64_text("content", b64("é" * 50), 100) == "é" * 50  # 100 bytes
    with pytest.raises(errors.InvalidArgument, match="exceeds 100 bytes") as info:
        base64_text("content", b64("é" * 50 + "x"), 100)
    assert info.value.details["ArgumentName"] == "content"
    with pytest.raises(errors.InvalidArgument, match="exceeds"):
        base64_text("content", "A" * 10_000, 100)  # refused before decoding


@pytest.mark.parametrize("value", ["a", "ab!c", "YQ=Y", "%%%%", "Y Q"])
def test_bad_base64(value: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="Base64"):
        base64_text("content", value, 100)


def test_invalid_utf8() -> None:
    value = base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode()
    with pytest.raises(errors.InvalidArgument, match="UTF-8"):
        base64_text("content", value, 100)


def test_empty_content() -> None:
    with pytest.raises(errors.InvalidArgument, match="empty"):
        base64_text("content", b64("   "), 100)


def test_history_is_a_json_array_of_contents() -> None:
    history = json.dumps([{"content": "first"}, {"content": "second"}, {"content": ""}])
    assert base64_history("history", b64(history), 400) == ("first", "second")
    for bad in ('{"content": "x"}', '["x"]', "[{}]", "not json"):
        with pytest.raises(errors.InvalidArgument, match="JSON array"):
            base64_history("history", b64(bad), 400)


def test_resolve_translate() -> None:
    request = resolve(f"doc/translate,language_en_US,content_{b64('你好')},format_event-stream")
    assert request.operation.name == "doc/translate"
    assert request.content == "你好"
    assert request.stream is True
    assert request.args.text("language") == "en_US"


def test_resolve_defaults_to_json_and_no_content() -> None:
    request = resolve("doc/polish")
    assert request.stream is False
    assert request.content is None


@pytest.mark.parametrize(
    ("process", "name"),
    [
        ("doc/frobnicate,content_YQ", "x-oss-process"),
        ("image/resize,w_100", "x-oss-process"),
        ("doc/translate,content_YQ", "language"),
        ("doc/translate,language_de_DE,content_YQ", "language"),
        ("doc/rephrase,content_YQ", "tone"),
        ("doc/rephrase,tone_angry,content_YQ", "tone"),
        ("doc/polish,language_en_US,content_YQ", "language"),
        ("doc/polish,format_xml,content_YQ", "format"),
        ("doc/polish,content_!!", "content"),
    ],
)
def test_resolve_errors_name_the_parameter(process: str, name: str) -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        resolve(process)
    assert info.value.details["ArgumentName"] == name
    assert info.value.status == 400


def test_choices_are_case_insensitive() -> None:
    assert resolve("doc/rephrase,tone_Straightforward").args.text("tone") == "straightforward"
    assert resolve("doc/translate,language_en_us").args.text("language") == "en_US"
