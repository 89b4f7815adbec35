"""EncryptedVector serialization: round trips, streams, key checks and corruption fuzzing."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, container, iter_vectors
from hedge.ckks.container import Kind
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import CorruptDataError, KeyMismatchError

SLOTS = 4096
TAG_CIPHERTEXT = 1

Make = Callable[[PublicBundle, np.ndarray], EncryptedVector]


def assert_same_vector(restored: EncryptedVector, original: EncryptedVector, keys: KeySet) -> None:
    assert restored.length == original.length
    assert restored.level == original.level
    assert restored.clean == original.clean
    assert restored.replicated == original.replicated
    assert len(restored.ciphertexts) == len(original.ciphertexts)
    assert restored.fingerprint == original.fingerprint
    assert np.allclose(decrypt_exact(keys, restored), decrypt_exact(keys, original), atol=1e-5)


@pytest.fixture(scope="module")
def short_vector(bundle: PublicBundle) -> EncryptedVector:
    return bundle.encrypt(np.linspace(-1, 1, 7))


@pytest.fixture(scope="module")
def short_bytes(short_vector: EncryptedVector) -> bytes:
    return short_vector.to_bytes()


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 7, SLOTS, SLOTS + 5, 2 * SLOTS + 1],
                         ids=["one", "short", "exactly_one_ct", "two_cts", "three_cts"])
def test_round_trip_fresh(keys: KeySet, bundle: PublicBundle, rng: np.random.Generator,
                          length: int) -> None:
    assert bundle.params.slot_count == SLOTS
    x = rng.uniform(-1, 1, length)
    v = bundle.encrypt(x)
    assert len(v.ciphertexts) == -(-length // SLOTS)
    restored = EncryptedVector.from_bytes(v.to_bytes(), bundle)
    assert_same_vector(restored, v, keys)
    assert restored.level == bundle.params.depth
    assert np.allclose(decrypt_exact(keys, restored), x, atol=1e-5)


@pytest.mark.parametrize("length", [7, SLOTS + 5], ids=["short", "two_cts"])
def test_round_trip_lower_levels(keys: KeySet, bundle: PublicBundle, rng: np.random.Generator,
                                 length: int) -> None:
    x, y = rng.uniform(-1, 1, length), rng.uniform(-1, 1, length)
    vx = bundle.encrypt(x)
    product = vx * bundle.encrypt(y)                  # level depth - 1
    bottom = product * 0.5 * 0.5                      # level 0
    assert (product.level, bottom.level) == (bundle.params.depth - 1, 0)
    for v, expected in ((product, x * y), (bottom, x * y / 4)):
        restored = EncryptedVector.from_bytes(v.to_bytes(), bundle)
        assert_same_vector(restored, v, keys)
        assert np.allclose(decrypt_exact(keys, restored), expected, atol=1e-5)
    # the restored lower-level vector still computes (scale and level are right)
    restored = EncryptedVector.from_bytes(product.to_bytes(), bundle)
    assert np.allclose(decrypt_exact(keys, restored * vx + vx), x * y * x + x, atol=1e-5)


def test_round_trip_keeps_replicated_and_unclean_flags(keys: KeySet, bundle: PublicBundle,
                                                       rng: np.random.Generator) -> None:
    x = rng.uniform(-1, 1, 40)
    vx = bundle.encrypt(x)
    total = vx.sum()
    assert (total.replicated, total.clean, total.length) == (True, False, 1)
    restored = EncryptedVector.from_bytes(total.to_bytes(), bundle)
    assert_same_vector(restored, total, keys)
    assert np.allclose(decrypt_exact(keys, restored), [x.sum()], atol=1e-5)
    # replicated broadcasting still works after the round trip
    assert np.allclose(decrypt_exact(keys, vx * restored), x * x.sum(), atol=1e-4)


def test_from_bytes_accepts_bytearray_and_memoryview(keys: KeySet, bundle: PublicBundle,
                                                      short_vector: EncryptedVector,
                                                      short_bytes: bytes) -> None:
    for data in (bytearray(short_bytes), memoryview(short_bytes)):
        restored = EncryptedVector.from_bytes(data, bundle)  # type: ignore[arg-type]
        assert_same_vector(restored, short_vector, keys)


def test_write_returns_size_and_matches_to_bytes(short_vector: EncryptedVector,
                                                 short_bytes: bytes) -> None:
    buf = io.BytesIO()
    assert short_vector.write(buf) == len(short_bytes)
    assert buf.getvalue() == short_bytes


# -- keys and kinds ---------------------------------------------------------------------------


def test_from_bytes_with_another_key_set(other_keys: KeySet, short_bytes: bytes) -> None:
    with pytest.raises(KeyMismatchError):
        EncryptedVector.from_bytes(short_bytes, other_keys.public())


def test_from_bytes_with_another_parameter_set(bundle: PublicBundle, short_bytes: bytes) -> None:
    header, records = container.from_bytes(short_bytes, Kind.VECTOR)
    data = container.to_bytes(Kind.VECTOR, {**header.fields, "param_id": "f" * 32}, records)
    with pytest.raises(KeyMismatchError):
        EncryptedVector.from_bytes(data, bundle)


def test_from_bytes_of_another_kind(bundle: PublicBundle, other_keys: KeySet) -> None:
    with pytest.raises(CorruptDataError, match="kind"):
        EncryptedVector.from_bytes(other_keys.public().to_bytes(), bundle)
    keystore_kind = container.to_bytes(Kind.KEYSTORE, {}, [])
    with pytest.raises(CorruptDataError, match="kind"):
        EncryptedVector.from_bytes(keystore_kind, bundle)


@pytest.mark.parametrize("value", ["not bytes", None, 42, 1.5, [1, 2, 3], {"a": 1}, object()])
def test_from_bytes_refuses_non_bytes(bundle: PublicBundle, value: Any) -> None:
    with pytest.raises(CorruptDataError):
        EncryptedVector.from_bytes(value, bundle)


# -- crafted containers -----------------------------------------------------------------------


def test_crafted_control(keys: KeySet, bundle: PublicBundle, short_vector: EncryptedVector,
                         short_bytes: bytes) -> None:
    """Header and records rebuilt unchanged with container.to_bytes load fine."""
    header, records = container.from_bytes(short_bytes, Kind.VECTOR)
    data = container.to_bytes(Kind.VECTOR, header.fields, records)
    assert_same_vector(EncryptedVector.from_bytes(data, bundle), short_vector, keys)


def test_record_level_must_match_header(bundle: PublicBundle, short_vector: EncryptedVector,
                                        short_bytes: bytes) -> None:
    top_header, top_records = container.from_bytes(short_bytes, Kind.VECTOR)
    lower = short_vector * 0.5
    low_header, low_records = container.from_bytes(lower.to_bytes(), Kind.VECTOR)
    assert top_header.fields["level"] != low_header.fields["level"]
    for fields, records in ((top_header.fields, low_records), (low_header.fields, top_records)):
        data = container.to_bytes(Kind.VECTOR, fields, records)
        with pytest.raises(CorruptDataError, match="level"):
            EncryptedVector.from_bytes(data, bundle)


def test_record_count_must_match_header(bundle: PublicBundle, short_bytes: bytes) -> None:
    header, records = container.from_bytes(short_bytes, Kind.VECTOR)
    for crafted in ([], records * 2):
        data = container.to_bytes(Kind.VECTOR, header.fields, crafted)
        with pytest.raises(CorruptDataError):
            EncryptedVector.from_bytes(data, bundle)


@pytest.mark.parametrize("change", [
    {"length": 0}, {"length": SLOTS + 1}, {"level": 99}, {"level": -1}, {"count": 2},
    {"length": "seven"}, {"level": None},
], ids=["length0", "length_needs_two", "level99", "level_neg", "count2", "length_str",
        "level_none"])
def test_inconsistent_header(bundle: PublicBundle, short_bytes: bytes,
                             change: dict[str, Any]) -> None:
    header, records = container.from_bytes(short_bytes, Kind.VECTOR)
    data = container.to_bytes(Kind.VECTOR, {**header.fields, **change}, records)
    with pytest.raises(CorruptDataError):
        EncryptedVector.from_bytes(data, bundle)


def test_record_that_is_not_a_ciphertext(bundle: PublicBundle, short_bytes: bytes) -> None:
    header, _ = container.from_bytes(short_bytes, Kind.VECTOR)
    public_key = bundle._public_key.to_string()
    for payload in (b"", b"garbage" * 10, public_key, bundle.relin_keys.to_string()[:1000]):
        data = container.to_bytes(Kind.VECTOR, header.fields, [(TAG_CIPHERTEXT, payload)])
        with pytest.raises(CorruptDataError):
            EncryptedVector.from_bytes(data, bundle)


# -- corruption fuzzing -----------------------------------------------------------------------


def _positions(size: int) -> st.SearchStrategy[int]:
    """Anywhere, with extra weight on the header and the end record (tiny next to the payload)."""
    return st.one_of(st.integers(0, 400), st.integers(0, size - 1),
                     st.integers(size - 40, size - 1))


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, mask in flips:
        out[position] ^= mask
    return bytes(out)


@st.composite
def corruptions(draw: st.DrawFn, data: bytes) -> bytes:
    how = draw(st.sampled_from(["flip", "truncate", "append", "replace"]))
    if how == "flip":
        flips = draw(st.lists(st.tuples(_positions(len(data)), st.integers(1, 255)),
                              min_size=1, max_size=4, unique_by=lambda t: t[0]))
        return _flip(data, flips)
    if how == "truncate":
        return data[: draw(_positions(len(data)))]
    if how == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    return draw(st.binary(max_size=2048))


@given(data=st.data())
def test_corruption_is_always_corrupt_data(bundle: PublicBundle, short_bytes: bytes,
                                           data: st.DataObject) -> None:
    corrupted = data.draw(corruptions(short_bytes))
    assert corrupted != short_bytes
    with pytest.raises(CorruptDataError):
        EncryptedVector.from_bytes(corrupted, bundle)


@given(position=st.integers(0, 10**9), bit=st.integers(0, 7))
def test_single_bit_flip_in_multi_ciphertext_vector(bundle: PublicBundle,
                                                    two_ct_bytes: bytes, position: int,
                                                    bit: int) -> None:
    corrupted = _flip(two_ct_bytes, [(position % len(two_ct_bytes), 1 << bit)])
    with pytest.raises(CorruptDataError):
        EncryptedVector.from_bytes(corrupted, bundle)


@pytest.fixture(scope="module")
def two_ct_bytes(bundle: PublicBundle) -> bytes:
    return (bundle.encrypt(np.linspace(-1, 1, SLOTS + 3)) * 0.5).to_bytes()


def test_truncation_at_structural_boundaries(bundle: PublicBundle, two_ct_bytes: bytes) -> None:
    header, records = container.from_bytes(two_ct_bytes, Kind.VECTOR)
    end_record = 2 + 8 + 8 + 4
    first_record = len(two_ct_bytes) - sum(2 + 8 + len(p) + 4 for _, p in records) - end_record
    assert two_ct_bytes[first_record : first_record + 2] == TAG_CIPHERTEXT.to_bytes(2, "little")
    cuts = {0, 1, 8, first_record - 1, first_record, first_record + 10,
            first_record + 14 + len(records[0][1]), len(two_ct_bytes) - end_record,
            len(two_ct_bytes) - 1}
    for cut in sorted(cuts):
        with pytest.raises(CorruptDataError):
            EncryptedVector.from_bytes(two_ct_bytes[:cut], bundle)
    assert header.fields["count"] == 2


# -- streams ----------------------------------------------------------------------------------


def test_iter_vectors_reads_a_file_incrementally(keys: KeySet, bundle: PublicBundle,
                                                 rng: np.random.Generator,
                                                 tmp_path: Path) -> None:
    xs = [rng.uniform(-1, 1, n) for n in (3, SLOTS + 2, 1)]
    vectors = [bundle.encrypt(xs[0]), bundle.encrypt(xs[1]) * 0.5, bundle.encrypt(xs[2]).sum()]
    expected = [xs[0], xs[1] * 0.5, xs[2]]
    path = tmp_path / "vectors.hedge"
    ends = []
    with path.open("wb") as fh:
        for v in vectors:
            v.write(fh)
            ends.append(fh.tell())
    with path.open("rb") as fh:
        it = iter_vectors(fh, bundle)
        for v, x, end in zip(vectors, expected, ends, strict=True):
            restored = next(it)
            assert fh.tell() == end  # exactly one container consumed per vector
            assert_same_vector(restored, v, keys)
            assert np.allclose(decrypt_exact(keys, restored), x, atol=1e-5)
        with pytest.raises(StopIteration):
            next(it)


def test_iter_vectors_empty_stream(bundle: PublicBundle) -> None:
    assert list(iter_vectors(io.BytesIO(b""), bundle)) == []


@pytest.mark.parametrize("tail", ["truncated", "junk"])
def test_iter_vectors_bad_tail(keys: KeySet, bundle: PublicBundle, short_vector: EncryptedVector,
                               short_bytes: bytes, tail: str) -> None:
    extra = short_bytes[:-10] if tail == "truncated" else b"not a hedge container"
    it = iter_vectors(io.BytesIO(short_bytes + extra), bundle)
    assert_same_vector(next(it), short_vector, keys)  # the good prefix is delivered first
    with pytest.raises(CorruptDataError):
        next(it)


def test_iter_vectors_foreign_vector(bundle: PublicBundle, other_keys: KeySet,
                                     short_bytes: bytes) -> None:
    foreign = other_keys.public().encrypt([0.5]).to_bytes()
    it = iter_vectors(io.BytesIO(short_bytes + foreign), bundle)
    next(it)
    with pytest.raises(KeyMismatchError):
        next(it)


def test_read_from_stream_leaves_following_data(keys: KeySet, bundle: PublicBundle,
                                                short_vector: EncryptedVector,
                                                short_bytes: bytes) -> None:
    stream = io.BytesIO(short_bytes + b"TAIL")
    assert_same_vector(EncryptedVector.read(stream, bundle), short_vector, keys)
    assert stream.read() == b"TAIL"


def test_transparent_and_inconsistent_ciphertexts_are_refused(bundle: PublicBundle) -> None:
    import zlib

    import seal

    from hedge.ckks import container as c

    v = bundle.encrypt([0.5, 0.25])
    header, records = c.from_bytes(v.to_bytes(), c.Kind.VECTOR)
    transparent = seal.Ciphertext(bundle.engine.context)  # all-zero: no encryption at all
    forged = c.to_bytes(c.Kind.VECTOR, header.fields, [(1, transparent.to_string())])
    with pytest.raises(CorruptDataError):
        EncryptedVector.from_bytes(forged, bundle)
    fields = dict(header.fields, replicated=True, length=5000)
    with pytest.raises(CorruptDataError, match="inconsistent"):
        EncryptedVector.from_bytes(c.to_bytes(c.Kind.VECTOR, fields, records), bundle)
    # a crafted header (valid CRC) nested deeper than Python's JSON parser can recurse
    head = ('{"a": ' + "[" * 5000 + "]" * 5000 + "}").encode()
    prefix = c._PREFIX.pack(c.MAGIC, c.FORMAT_VERSION, c.Kind.VECTOR, len(head)) + head
    crafted = prefix + c._CRC.pack(zlib.crc32(prefix))
    with pytest.raises(CorruptDataError, match="not plain JSON"):
        EncryptedVector.from_bytes(crafted, bundle)
