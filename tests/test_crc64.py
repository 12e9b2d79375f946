from __future__ import annotations

import random

import fastcrc
import pytest

from ossdoc.crc64 import combine, crc64


def test_known_answer() -> None:
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA  # the CRC-64/XZ catalogue check value


def test_streaming_matches_one_shot() -> None:
    data = random.Random(1).randbytes(100_000)
    crc = 0
    for at in range(0, len(data), 7_777):
        crc = crc64(memoryview(data)[at : at + 7_777], crc)
    assert crc == crc64(data) == fastcrc.crc64.xz(data)


@pytest.mark.parametrize("seed", range(20))
def test_combine_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.choice([0, 1, 8, 1000, 70_000, 1_000_003]))
    cut = rng.randint(0, len(data))
    a, b = data[:cut], data[cut:]
    assert combine(crc64(a), crc64(b), len(b)) == fastcrc.crc64.xz(data)


def test_combine_many_pieces_in_order() -> None:
    rng = random.Random(99)
    pieces = [rng.randbytes(rng.randint(0, 5000)) for _ in range(40)]
    crc = 0
    for piece in pieces:
        crc = combine(crc, crc64(piece), len(piece))
    assert crc == crc64(b"".join(pieces))


def test_combine_edge_lengths() -> None:
    assert combine(crc64(b"abc"), crc64(b""), 0) == crc64(b"abc")
    assert combine(crc64(b""), crc64(b"abc"), 3) == crc64(b"abc")
    # A length beyond anything in memory: the zero-operator powers are cached, so this is quick, and
    # it must agree with combining the same zeros in two halves.
    zeros = crc64(bytes(1 << 20))
    big = combine(crc64(b"x"), 0, 1 << 40)
    assert big == combine(combine(crc64(b"x"), 0, 1 << 39), 0, 1 << 39)
    assert combine(crc64(b"x"), zeros, 1 << 20) == crc64(b"x" + bytes(1 << 20))
