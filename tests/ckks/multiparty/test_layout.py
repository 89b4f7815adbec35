"""SEAL's serialized layout, byte for byte: an upgrade of seal-python that changes it fails here."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import seal
from hypothesis import given
from hypothesis import strategies as st

from hedge.ckks import KeySet, PublicBundle
from hedge.ckks._engine import galois_element
from hedge.ckks.multiparty import _layout
from hedge.errors import CorruptDataError

N = 8192


@pytest.fixture(scope="module")
def objects(keys: KeySet, bundle: PublicBundle) -> dict[str, bytes]:
    engine = bundle.engine
    plain = engine.encode(np.linspace(-1, 1, 8), engine.top_level, engine.scales[-1])
    return {
        "ciphertext": bundle.encrypt([1.0, 2.0]).ciphertexts[0].to_string(),
        "public key": bundle._public_key.to_string(),
        "secret key": keys.export_secret_key_unsafe(),
        "plaintext": plain.to_bytes(),
        "relinearisation keys": bundle.relin_keys.to_string(),
        "Galois keys": bundle.galois_keys.to_string(),
    }


def test_every_object_round_trips_byte_for_byte(objects: dict[str, bytes]) -> None:
    for name in ("ciphertext", "public key"):
        assert _layout.ciphertext_bytes(_layout.parse_ciphertext(objects[name])) == objects[name]
    for name in ("secret key", "plaintext"):
        assert _layout.plaintext_bytes(_layout.parse_plaintext(objects[name], N)) == objects[name]
    for name in ("relinearisation keys", "Galois keys"):
        assert _layout.kswitch_bytes(_layout.parse_kswitch(objects[name])) == objects[name]


def test_the_pinned_header_and_shapes(objects: dict[str, bytes], bundle: PublicBundle) -> None:
    for data in objects.values():
        assert data.startswith(_layout.SEAL_HEADER)  # magic 0xA15E, SEAL 4.4, uncompressed
        assert int.from_bytes(data[8:16], "little") == len(data)
    ct = _layout.parse_ciphertext(objects["ciphertext"])
    assert ct.polys.shape == (2, 4, N) and ct.is_ntt  # fast: 4 data primes at the top level
    assert ct.parms_id == tuple(bundle.engine.context.first_parms_id())
    sk = _layout.parse_plaintext(objects["secret key"], N)
    assert sk.polys.shape == (1, 5, N)  # the key level adds the special prime
    relin = _layout.parse_kswitch(objects["relinearisation keys"])
    assert len(relin.keys) == 1 and len(relin.keys[0]) == 4
    assert all(k.polys.shape == (2, 5, N) for k in relin.keys[0])
    galois = _layout.parse_kswitch(objects["Galois keys"])
    assert len(galois.keys) == N  # one row per Galois index (g & (2N - 1)) >> 1
    elements = {galois_element(s, N) for s in bundle.rotation_steps}  # +-2048 are one element
    assert sum(1 for row in galois.keys if row) == len(elements)


def test_written_objects_load_through_seals_checks(objects: dict[str, bytes],
                                                  bundle: PublicBundle) -> None:
    context = bundle.engine.context
    ct = _layout.parse_ciphertext(objects["ciphertext"])
    assert isinstance(_layout.seal_ciphertext(context, ct), seal.Ciphertext)
    ct.polys[0, 0, 0] = np.uint64(2**62)  # above every prime: SEAL's loader refuses it
    with pytest.raises(CorruptDataError, match="SEAL refused"):
        _layout.seal_ciphertext(context, ct)


@pytest.mark.parametrize("cut", [3, 20, 100, -1])
def test_truncated_or_padded_bytes_are_refused(objects: dict[str, bytes], cut: int) -> None:
    data = objects["ciphertext"]
    with pytest.raises(CorruptDataError):
        _layout.parse_ciphertext(data[:cut])
    with pytest.raises(CorruptDataError, match="trailing"):
        _layout.parse_ciphertext(data + b"\0")
    with pytest.raises(CorruptDataError, match="layout"):
        _layout.parse_ciphertext(b"\0" * 16 + data[16:])


@given(data=st.binary(max_size=512), offset=st.integers(0, 200))
def test_hostile_bytes_give_corrupt_data_error_only(objects: dict[str, bytes], data: bytes,
                                                    offset: int) -> None:
    base = objects["relinearisation keys"][:4096]
    for blob in (data, base[:offset] + data, _layout.SEAL_HEADER + data):
        for parse in (_layout.parse_ciphertext, _layout.parse_kswitch,
                      lambda b: _layout.parse_plaintext(b, N)):
            with contextlib.suppress(CorruptDataError):
                parse(blob)
