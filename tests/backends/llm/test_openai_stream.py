"""The event-stream reader of the OpenAI backend on byte sequences servers send (or should not)."""

from __future__ import annotations

import json

import pytest

from ossdoc.backends.llm import Chunk, LLMError
from ossdoc.backends.llm.openai_stream import MAX_LINE, EventReader


def delta(text: str, finish: str | None = None) -> str:
    return json.dumps({"choices": [{"delta": {"content": text}, "finish_reason": finish}]})


STREAM = (
    f": ping\r\n\r\ndata: {delta('Hel')}\r\n\r\nevent: message\nid: 3\nretry: 10\ndata: {delta('lo')}\n\n"
    f"data: {delta('', 'stop')}\n\ndata: [DONE]\n\n"
).encode()


def read(pieces: list[bytes]) -> list[Chunk]:
    reader = EventReader(7)
    chunks = [c for piece in pieces for c in reader.feed(piece)]
    return chunks + reader.finish()


def test_any_split_of_the_bytes_reads_the_same() -> None:
    whole = read([STREAM])
    assert [(c.text, c.output_tokens, c.finish_reason) for c in whole] == [
        ("Hel", 1, None),
        ("lo", 2, None),
        ("", 2, "stop"),
    ]
    assert read([STREAM[i : i + 1] for i in range(len(STREAM))]) == whole


def test_data_lines_of_one_event_are_joined() -> None:
    event = delta("multi").replace(", ", ",\ndata: ")  # JSON split over several data lines
    assert [c.text for c in read([f"data: {event}\n\ndata: [DONE]\n\n".encode()])] == ["multi", ""]


def test_a_last_event_without_its_blank_line_counts() -> None:
    assert [c.text for c in read([f"data: {delta('end', 'stop')}".encode()])] == ["end", ""]


def test_bytes_after_done_are_ignored() -> None:
    assert [c.text for c in read([b"data: [DONE]\n\n", b"\xff\xfe whatever"])] == [""]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'event: error\ndata: {"message": "overloaded"}\n\n', "failed: .*overloaded"),
        (b'data: {"error": "quota"}\n\n', "failed: 'quota'"),
        (b'data: "text"\n\n', "not an object"),
        (b'data: {"choices": [{"delta": "x"}]}\n\n', "malformed event"),
        (b'data: {"usage": {"prompt_tokens": "many"}}\n\n', "malformed event"),
        (b"HTTP/1.1 200 OK\n", "not an event stream: 'HTTP/1.1 200 OK'"),
        (b"data: \xc3\x28\n", "not UTF-8"),
        (b"data: " + b"x" * MAX_LINE + b"\n", "longer than"),
        (f"data: {delta('a')}\n\n".encode(), "ended the stream before the end of the reply"),
    ],
)
def test_what_is_not_a_valid_stream_is_an_error(data: bytes, message: str) -> None:
    with pytest.raises(LLMError, match=message):
        read([data])
