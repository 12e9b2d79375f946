"""CRC-64/XZ, which OSS calls ``x-oss-hash-crc64ecma``, and combining the CRCs of concatenated data."""

from __future__ import annotations

from functools import cache

import fastcrc

# Reflected ECMA-182 polynomial.
_POLY = 0xC96C5795D7870F42


def crc64(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """CRC of ``data``; pass a previous result as ``initial`` to continue over a stream."""
    value: int = fastcrc.crc64.xz(data, initial=initial)
    return value


def _times(matrix: tuple[int, ...], vector: int) -> int:
    total = 0
    index = 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _square(matrix: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(_times(matrix, matrix[n]) for n in range(64))


@cache
def _zeros_operator(power: int) -> tuple[int, ...]:
    """The GF(2) operator that appends 2**power zero bytes to a CRC register (zlib's crc32_combine
    method, for 64 bits); cached, so combining costs a few dozen matrix-vector products."""
    if power == 0:
        one_bit = (_POLY, *(1 << n for n in range(63)))
        return _square(_square(_square(one_bit)))  # 8 zero bits
    return _square(_zeros_operator(power - 1))


def combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC of A+B from crc(A), crc(B) and len(B)."""
    power = 0
    while len2:
        if len2 & 1:
            crc1 = _times(_zeros_operator(power), crc1)
        len2 >>= 1
        power += 1
    return crc1 ^ crc2
