"""The compact bundle expands to the very bundle it was written from, and refuses alterations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.ckks import KeySet, container
from hedge.ckks.multiparty import LocalConsortium
from hedge.ckks.multiparty.compact import KIND, compact_bytes, from_compact_bytes, pack, unpack
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError


@pytest.fixture(scope="module")
def compact(consortium: LocalConsortium) -> bytes:
    return compact_bytes(consortium.bundle)


def test_it_expands_to_the_same_bundle_byte_for_byte(consortium: LocalConsortium,
                                                     compact: bytes) -> None:
    full = consortium.bundle.to_bytes()
    back = from_compact_bytes(compact, expected_fingerprint=consortium.bundle.fingerprint)
    assert back.to_bytes() == full
    assert back.common_seed == consortium.crs.seed
    assert len(compact) < 0.4 * len(full)  # half the keys from the seed, limbs at 40-60 bits
    x = np.linspace(-1, 1, 32)
    assert np.allclose(consortium.decrypt((back.encrypt(x) * x).rotate(-2), flooding=1.0),
                       np.roll(x * x, 2), atol=1e-5)


def _rewritten(compact: bytes, index: int, flip: int) -> bytes:
    head, records = container.from_bytes(compact, KIND)
    tag, payload = records[index]
    changed = bytearray(payload)
    changed[flip] ^= 1
    records[index] = (tag, bytes(changed))
    return container.to_bytes(KIND, head.fields, records)  # valid CRCs, altered keys


@pytest.mark.parametrize("index", [0, 1, 5])
def test_altered_keys_are_refused(compact: bytes, index: int) -> None:
    with pytest.raises(CorruptDataError, match="digest"):
        from_compact_bytes(_rewritten(compact, index, 100))
    with pytest.raises(CorruptDataError):
        from_compact_bytes(compact[:-40] + bytes(40))


def test_another_key_set_and_a_single_key_bundle_are_refused(compact: bytes) -> None:
    with pytest.raises(KeyMismatchError, match="pinned"):
        from_compact_bytes(compact, expected_fingerprint="0" * 32)
    with pytest.raises(ParameterError, match="collective"):
        compact_bytes(KeySet.generate("fast", rotations=[1]).public())


@given(bits=st.integers(1, 64), data=st.data())
def test_pack_round_trips(bits: int, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=1, max_size=50))
    packed = pack(np.array(values, np.uint64), bits)
    assert len(packed) == (len(values) * bits + 7) // 8
    assert unpack(packed, bits, len(values)).tolist() == values
    with pytest.raises(CorruptDataError, match="expected"):
        unpack(packed + b"\0", bits, len(values))


@pytest.mark.parametrize("seed", ["ab", "zz" * 32, "00" * 31])
def test_a_seed_that_is_no_32_byte_hex_is_corrupt_data(compact: bytes, seed: str) -> None:
    head, records = container.from_bytes(compact, KIND)
    fields = dict(head.fields, seed=seed)
    with pytest.raises(CorruptDataError, match="seed"):
        from_compact_bytes(container.to_bytes(KIND, fields, records))
