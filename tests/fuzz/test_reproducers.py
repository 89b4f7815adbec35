"""Inputs the fuzzer found, kept as plain tests of the parsers they broke (those of other
modules live beside those modules' tests)."""

from __future__ import annotations

import pytest

from hedge.wire.protocol import error_body


@pytest.mark.parametrize("body", [
    b"[" * 200_000 + b"]" * 200_000,  # json.loads: RecursionError
    b'{"detail": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"detail": ' + b"9" * 5000 + b"}",  # beyond Python's digit limit: ValueError
    b"\xff\xfe\x00",
])
def test_a_refusal_body_that_json_cannot_parse_gives_neither_detail_nor_error(
        body: bytes) -> None:
    assert error_body(body) == (None, None)
