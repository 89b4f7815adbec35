"""The binary container: round trips, incremental reading and corruption detection.

The raw builders below restate the layout documented in `hedge.ckks.container` independently of the
implementation, so that malformed containers (bad version, wrong counts, ...) can be crafted with
otherwise valid checksums.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.ckks import container
from hedge.ckks.container import FORMAT_VERSION, MAGIC, Kind
from hedge.errors import CorruptDataError, HedgeError

HEADER: dict[str, Any] = {"param_id": "abc123", "length": 3, "flag": True, "name": "ünïcode"}
RECORDS: list[tuple[int, bytes]] = [(1, b"first payload"), (7, b""), (65535, bytes(range(256)))]


def raw_record(tag: int, payload: bytes, *, crc: int | None = None) -> bytes:
    head = struct.pack("<HQ", tag, len(payload))
    value = zlib.crc32(payload, zlib.crc32(head)) if crc is None else crc
    return head + payload + struct.pack("<I", value)


def raw_end(count: int) -> bytes:
    return raw_record(0, struct.pack("<Q", count))


def raw_container(header: bytes, body: bytes, *, magic: bytes = MAGIC,
                  version: int = FORMAT_VERSION, kind: int = Kind.VECTOR,
                  hcrc: int | None = None) -> bytes:
    prefix = struct.pack("<8sHHI", magic, version, kind, len(header)) + header
    value = zlib.crc32(prefix) if hcrc is None else hcrc
    return prefix + struct.pack("<I", value) + body


def small_container() -> bytes:
    return container.to_bytes(Kind.VECTOR, {"a": 1}, [(1, b"xyz"), (2, b"")])


def header_end(data: bytes) -> int:
    """Offset of the first record (just after the header checksum)."""
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC) + 4)
    return len(MAGIC) + 8 + hlen + 4


# -- round trips ----------------------------------------------------------------------------


def test_layout_matches_documented_format() -> None:
    data = container.to_bytes(Kind.BUNDLE, {"b": [1, 2], "a": "x"}, [(5, b"hello")])
    head = b'{"a":"x","b":[1,2]}'
    expected = raw_container(head, raw_record(5, b"hello") + raw_end(1), kind=Kind.BUNDLE)
    assert data == expected


@pytest.mark.parametrize("records", [RECORDS, [], [(3, b"only one")]], ids=["three", "zero", "one"])
def test_bytes_round_trip(records: list[tuple[int, bytes]]) -> None:
    data = container.to_bytes(Kind.BUNDLE, HEADER, records)
    header, items = container.from_bytes(data, Kind.BUNDLE)
    assert header.kind == Kind.BUNDLE
    assert header.fields == HEADER
    assert items == records


def test_write_container_returns_bytes_written_and_accepts_generators() -> None:
    buf = io.BytesIO()
    written = container.write_container(buf, Kind.KEYSTORE, HEADER, (r for r in RECORDS))
    assert written == len(buf.getvalue())
    assert buf.getvalue() == container.to_bytes(Kind.KEYSTORE, HEADER, RECORDS)


def test_from_bytes_accepts_bytearray_and_memoryview() -> None:
    data = container.to_bytes(Kind.VECTOR, HEADER, RECORDS)
    for view in (bytearray(data), memoryview(data)):
        header, items = container.from_bytes(view, Kind.VECTOR)  # type: ignore[arg-type]
        assert header.fields == HEADER
        assert items == RECORDS


def test_reserved_end_tag_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="reserved"):
        container.to_bytes(Kind.VECTOR, {}, [(0, b"x")])


json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
headers = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
records_st = st.lists(st.tuples(st.integers(1, 65535), st.binary(max_size=64)), max_size=5)


@given(kind=st.sampled_from([Kind.VECTOR, Kind.BUNDLE, Kind.KEYSTORE]), header=headers,
       records=records_st)
def test_round_trip_property(kind: int, header: dict[str, Any],
                             records: list[tuple[int, bytes]]) -> None:
    data = container.to_bytes(kind, header, records)
    parsed, items = container.from_bytes(data, kind)
    assert (parsed.kind, parsed.fields, items) == (kind, header, records)


# -- incremental reading ----------------------------------------------------------------------


def test_read_container_is_lazy_over_a_file(tmp_path: Path) -> None:
    data = container.to_bytes(Kind.VECTOR, HEADER, RECORDS)
    path = tmp_path / "c.hedge"
    path.write_bytes(data)
    with path.open("rb") as fh:
        header, records = container.read_container(fh, Kind.VECTOR)
        assert header.fields == HEADER
        position = header_end(data)
        assert fh.tell() == position  # nothing past the header was consumed yet
        for tag, payload in RECORDS:
            assert next(records) == (tag, payload)
            position += 2 + 8 + len(payload) + 4
            assert fh.tell() == position  # exactly one record consumed per step
        with pytest.raises(StopIteration):
            next(records)
        assert fh.tell() == len(data)


def test_records_are_checked_as_they_arrive(tmp_path: Path) -> None:
    """Record 0 is usable before the corruption in record 1 is reached (and then reported)."""
    data = bytearray(container.to_bytes(Kind.VECTOR, HEADER, RECORDS))
    second = header_end(bytes(data)) + 2 + 8 + len(RECORDS[0][1]) + 4  # start of record 1
    assert RECORDS[1][1] == b""
    data[second + 2 + 8] ^= 0x01  # first byte of record 1's CRC (its payload is empty)
    path = tmp_path / "c.hedge"
    path.write_bytes(bytes(data))
    with path.open("rb") as fh:
        _, records = container.read_container(fh, Kind.VECTOR)
        assert next(records) == RECORDS[0]
        with pytest.raises(CorruptDataError, match="checksum"):
            next(records)


def test_read_header_leaves_stream_at_first_record() -> None:
    data = container.to_bytes(Kind.BUNDLE, HEADER, RECORDS)
    stream = io.BytesIO(data)
    header = container.read_header(stream, Kind.BUNDLE)
    assert header.fields == HEADER
    assert stream.tell() == header_end(data)
    assert list(container.read_records(stream)) == RECORDS


def test_back_to_back_containers_and_allow_eof() -> None:
    stream = io.BytesIO()
    container.write_container(stream, Kind.VECTOR, {"i": 0}, RECORDS[:1])
    container.write_container(stream, Kind.VECTOR, {"i": 1}, [])
    container.write_container(stream, Kind.VECTOR, {"i": 2}, RECORDS)
    stream.seek(0)
    seen = []
    while (found := container.read_container(stream, Kind.VECTOR, allow_eof=True)) is not None:
        header, records = found
        seen.append((header.fields["i"], list(records)))
    assert seen == [(0, RECORDS[:1]), (1, []), (2, RECORDS)]
    assert container.read_container(stream, Kind.VECTOR, allow_eof=True) is None


def test_allow_eof_on_empty_stream_and_partial_prefix() -> None:
    assert container.read_container(io.BytesIO(b""), allow_eof=True) is None
    with pytest.raises(CorruptDataError):
        container.read_container(io.BytesIO(b""))  # without allow_eof an empty stream is corrupt
    for cut in (1, len(MAGIC), len(MAGIC) + 3):
        with pytest.raises(CorruptDataError):
            container.read_container(io.BytesIO(small_container()[:cut]), allow_eof=True)


def test_expected_kind_none_accepts_any_kind() -> None:
    data = container.to_bytes(Kind.KEYSTORE, HEADER, RECORDS)
    header, records = container.read_container(io.BytesIO(data))
    assert header.kind == Kind.KEYSTORE
    assert list(records) == RECORDS


# -- corruption ------------------------------------------------------------------------------


def test_bad_magic() -> None:
    data = raw_container(b"{}", raw_end(0), magic=b"\x89HEDGF\r\n")
    with pytest.raises(CorruptDataError, match="magic"):
        container.from_bytes(data, Kind.VECTOR)
    text_mangled = small_container().replace(b"\r\n", b"\n", 1)
    with pytest.raises(CorruptDataError, match="magic"):
        container.from_bytes(text_mangled, Kind.VECTOR)
    with pytest.raises(CorruptDataError, match="magic"):
        container.from_bytes(b"PK\x03\x04 definitely a zip file", Kind.VECTOR)


@pytest.mark.parametrize("version", [0, FORMAT_VERSION + 1, 0xFFFF])
def test_unknown_format_version(version: int) -> None:
    data = raw_container(b"{}", raw_end(0), version=version)
    with pytest.raises(CorruptDataError, match="version"):
        container.from_bytes(data, Kind.VECTOR)


def test_kind_numbers_fall_in_reserved_ranges() -> None:
    """The engine's kinds in its range; an application may take a number of its own range
    only, and the engine reads its containers like any other."""
    assert {Kind.VECTOR, Kind.BUNDLE, Kind.KEYSTORE} <= set(container.ENGINE_KINDS)
    assert not set(container.ENGINE_KINDS) & set(container.APPLICATION_KINDS)
    start = container.APPLICATION_KINDS.start
    assert container.application_kind(start) == start
    for number in (0, Kind.VECTOR, Kind.KEYSTORE, container.APPLICATION_KINDS.stop, 65535,
                   True, 4.0):
        with pytest.raises(ValueError, match="application range"):
            container.application_kind(number)  # type: ignore[arg-type]
    data = container.to_bytes(start, HEADER, RECORDS)
    assert container.from_bytes(data, start)[1] == RECORDS


def test_wrong_kind() -> None:
    data = container.to_bytes(Kind.BUNDLE, HEADER, RECORDS)
    for other in (Kind.VECTOR, Kind.KEYSTORE):
        with pytest.raises(CorruptDataError, match="kind"):
            container.from_bytes(data, other)
    with pytest.raises(CorruptDataError, match="kind"):
        container.read_container(io.BytesIO(data), Kind.VECTOR)


def test_header_crc_mismatch() -> None:
    good = raw_container(b'{"a":1}', raw_end(0))
    container.from_bytes(good, Kind.VECTOR)  # control: the crafted container is valid
    bad_crc = raw_container(b'{"a":1}', raw_end(0), hcrc=zlib.crc32(b"whatever"))
    changed = good.replace(b'{"a":1}', b'{"a":2}')
    for data in (bad_crc, changed):
        with pytest.raises(CorruptDataError, match="header checksum"):
            container.from_bytes(data, Kind.VECTOR)


def test_header_must_be_a_json_object() -> None:
    data = raw_container(b"[1,2]", raw_end(0))
    with pytest.raises(CorruptDataError, match="object"):
        container.from_bytes(data, Kind.VECTOR)


def test_implausible_lengths() -> None:
    huge_header = struct.pack("<8sHHI", MAGIC, FORMAT_VERSION, Kind.VECTOR, (1 << 20) + 1)
    with pytest.raises(CorruptDataError):
        container.from_bytes(huge_header + b"{}", Kind.VECTOR)
    huge_record = struct.pack("<HQ", 1, (1 << 34) + 1) + b"x" * 16
    with pytest.raises(CorruptDataError):
        container.from_bytes(raw_container(b"{}", huge_record), Kind.VECTOR)


def test_record_crc_mismatch() -> None:
    body = raw_record(1, b"payload", crc=zlib.crc32(b"payload")) + raw_end(1)
    with pytest.raises(CorruptDataError, match="checksum mismatch in record 0"):
        container.from_bytes(raw_container(b"{}", body), Kind.VECTOR)
    data = bytearray(container.to_bytes(Kind.VECTOR, {}, RECORDS))
    data[header_end(bytes(data)) + 2 + 8] ^= 0x20  # first payload byte of record 0
    with pytest.raises(CorruptDataError, match="checksum"):
        container.from_bytes(bytes(data), Kind.VECTOR)


def test_end_record_crc_mismatch() -> None:
    body = raw_record(1, b"x") + raw_record(0, struct.pack("<Q", 1), crc=0)
    with pytest.raises(CorruptDataError, match="checksum"):
        container.from_bytes(raw_container(b"{}", body), Kind.VECTOR)


@pytest.mark.parametrize("declared", [0, 2, 3, 2**64 - 1])
def test_wrong_record_count_in_end_record(declared: int) -> None:
    body = raw_record(1, b"a") + raw_end(declared)
    with pytest.raises(CorruptDataError, match="count"):
        container.from_bytes(raw_container(b"{}", body), Kind.VECTOR)
    # control: the right count is accepted
    assert container.from_bytes(raw_container(b"{}", raw_record(1, b"a") + raw_end(1)),
                                Kind.VECTOR)[1] == [(1, b"a")]


def test_end_record_with_wrong_length() -> None:
    body = raw_record(1, b"a") + raw_record(0, struct.pack("<I", 1))
    with pytest.raises(CorruptDataError, match="count"):
        container.from_bytes(raw_container(b"{}", body), Kind.VECTOR)


def test_missing_end_record() -> None:
    body = raw_record(1, b"a") + raw_record(2, b"b")
    with pytest.raises(CorruptDataError, match="truncated"):
        container.from_bytes(raw_container(b"{}", body), Kind.VECTOR)


@pytest.mark.parametrize("junk", [b"\x00", b"x" * 100, small_container()])
def test_trailing_bytes_after_end_record(junk: bytes) -> None:
    with pytest.raises(CorruptDataError, match="after the end record"):
        container.from_bytes(small_container() + junk, Kind.VECTOR)


@pytest.mark.parametrize("value", ["text", None, 42, [1, 2], {"a": 1}])
def test_from_bytes_refuses_non_bytes(value: Any) -> None:
    with pytest.raises(CorruptDataError):
        container.from_bytes(value, Kind.VECTOR)


def test_truncation_at_every_position() -> None:
    data = small_container()
    for cut in range(len(data)):
        with pytest.raises(CorruptDataError):
            container.from_bytes(data[:cut], Kind.VECTOR)
        stream = io.BytesIO(data[:cut])
        with pytest.raises(CorruptDataError):  # the incremental reader fails too (maybe lazily)
            _, records = container.read_container(stream, Kind.VECTOR)
            list(records)
    assert container.from_bytes(data, Kind.VECTOR)[1] == [(1, b"xyz"), (2, b"")]


def test_every_single_bit_flip_is_detected() -> None:
    data = small_container()
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(CorruptDataError):
            container.from_bytes(bytes(flipped), Kind.VECTOR)


@st.composite
def containers(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from([Kind.VECTOR, Kind.BUNDLE, Kind.KEYSTORE]))
    return container.to_bytes(kind, draw(headers), draw(records_st))


def _kind_of(data: bytes) -> int:
    return int(struct.unpack_from("<H", data, len(MAGIC) + 2)[0])


@given(data=containers(), where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_single_bit_flip_property(data: bytes, where: float, bit: int) -> None:
    flipped = bytearray(data)
    flipped[int(where * len(data))] ^= 1 << bit
    with pytest.raises(CorruptDataError) as info:
        container.from_bytes(bytes(flipped), _kind_of(data))
    assert isinstance(info.value, HedgeError)


@given(data=containers(), where=st.floats(0, 1, exclude_max=True))
def test_truncation_property(data: bytes, where: float) -> None:
    cut = int(where * len(data))
    with pytest.raises(CorruptDataError):
        container.from_bytes(data[:cut], _kind_of(data))
    with pytest.raises(CorruptDataError):
        _, records = container.read_container(io.BytesIO(data[:cut]), _kind_of(data))
        list(records)
