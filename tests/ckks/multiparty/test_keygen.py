"""Dealer-free key generation: the collective keys have SEAL's structure under s = sum s_i, and
no single share decrypts."""

from __future__ import annotations

import numpy as np
import pytest
import seal

from hedge.ckks import PublicBundle, preset
from hedge.ckks.multiparty import (
    CommonReference,
    KeyShare,
    LocalConsortium,
    _layout,
    _rns,
    sum_shares,
)
from hedge.ckks.multiparty.keygen import collective_galois_keys
from hedge.ckks.multiparty.ring import ring_for
from hedge.errors import ParameterError

FAST = preset("fast")


def collective_secret(consortium: LocalConsortium) -> np.ndarray:
    """s = sum s_i: only a test may add the shares up."""
    return sum_shares(FAST, [k._s for k in consortium.shares.values()])


def small(consortium: LocalConsortium, residues: np.ndarray) -> int:
    """max |coefficient| of key-level residues, read off the data primes at the top level."""
    ring = ring_for(FAST)
    top = FAST.depth + 1
    return int(np.abs(ring.centered_coefficients(
        residues[:top], tuple(ring.engine.parms_id_at(FAST.depth)))).max())


def test_the_public_key_is_an_rlwe_sample_under_the_sum_of_the_shares(
        consortium: LocalConsortium) -> None:
    ring, q = ring_for(FAST), ring_for(FAST).key_column
    pk = _layout.parse_ciphertext(consortium.bundle._public_key.to_string()).polys
    assert np.array_equal(pk[1], consortium.crs.public_key_a())  # a from the public seed
    s = collective_secret(consortium)
    assert small(consortium, _rns.addmod(pk[0], _rns.mulmod(pk[1], s, q), q)) <= 3 * 20
    # under one holder's share alone it is no sample at all
    alone = next(iter(consortium.shares.values()))._s
    assert small(consortium, _rns.addmod(pk[0], _rns.mulmod(pk[1], alone, q), q)) > 2**40
    assert ring.decomposition == len(FAST.data_bits)


def test_the_relinearisation_key_switches_from_the_square_of_the_collective_secret(
        consortium: LocalConsortium) -> None:
    ring, q = ring_for(FAST), ring_for(FAST).key_column
    s = collective_secret(consortium)
    s2 = _rns.mulmod(s, s, q)
    keys = _layout.parse_kswitch(consortium.bundle.relin_keys.to_string()).keys[0]
    for j, key in enumerate(keys):
        noise = _rns.addmod(key.polys[0], _rns.mulmod(key.polys[1], s, q), q)
        noise[j] = _rns.submod(noise[j], _rns.mulmod(s2[j], ring.gadget[j], q[j]),
                               q[j])
        # s e0 + u e1 + e2 + e3: a few thousand, against residues of 40 bits and more
        assert small(consortium, noise) < 2**16


def test_no_share_decrypts_alone(consortium: LocalConsortium) -> None:
    x = np.linspace(-1, 1, 64)
    ct = consortium.bundle.encrypt(x).ciphertexts[0]
    engine = consortium.bundle.engine
    for share in consortium.shares.values():
        got = engine.decode(seal.Decryptor(engine.context, share.secret_key).decrypt(ct))[:64]
        assert np.abs(got - x).min() > 1.0  # not even one value near the truth


def test_the_bundle_round_trips_and_holds_no_secret(consortium: LocalConsortium) -> None:
    data = consortium.bundle.to_bytes()
    back = PublicBundle.from_bytes(data, expected_fingerprint=consortium.bundle.fingerprint)
    assert back.rotation_steps == consortium.bundle.rotation_steps
    for share in consortium.shares.values():
        assert share.secret_key.to_string()[64:4096] not in data
    x = np.arange(8.0) / 8
    assert np.allclose(consortium.decrypt(back.encrypt(x).rotate(1), flooding=1.0)[:7], x[1:],
                       atol=1e-5)


def test_each_holder_sends_only_its_shares(consortium: LocalConsortium) -> None:
    n, primes, d = 8192, 5, 4
    assert consortium.sent["public key"] == primes * n * 8
    assert consortium.sent["relinearisation round 1"] == 2 * d * primes * n * 8
    assert consortium.sent["relinearisation round 2"] == d * primes * n * 8
    steps = len(consortium.bundle.rotation_steps)
    assert consortium.sent["Galois keys"] == steps * d * primes * n * 8


def test_mismatched_shares_are_refused() -> None:
    crs = CommonReference.fresh(FAST)
    a, b = KeyShare.generate(FAST), KeyShare.generate(FAST)
    with pytest.raises(ParameterError, match="shape"):
        sum_shares(FAST, [a.public_key_share(crs), a.public_key_share(crs)[:2]])
    with pytest.raises(ParameterError, match="no shares"):
        sum_shares(FAST, [])
    with pytest.raises(ParameterError, match="different rotation steps"):
        collective_galois_keys(crs, [a.galois_shares(crs, [1]), b.galois_shares(crs, [2])])
    with pytest.raises(ParameterError, match="two distinct"):
        LocalConsortium.generate(FAST, ["owner", "owner"])
    with pytest.raises(ParameterError, match="16 bytes"):
        CommonReference(FAST, b"short").public_key_a()
