"""Exact RNS arithmetic against Python's integers, and the common reference polynomial."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.ckks import PRESETS
from hedge.ckks.multiparty import _rns
from hedge.ckks.multiparty.ring import ring_for
from hedge.errors import ParameterError

PRIMES = sorted({q for p in PRESETS.values() for q in ring_for(p).key_primes})


@given(q=st.sampled_from(PRIMES) | st.integers(2, 2**62 - 1), data=st.data())
def test_mulmod_addmod_submod_are_exact(q: int, data: st.DataObject) -> None:
    values = st.lists(st.integers(0, q - 1), min_size=1, max_size=64)
    a = data.draw(values)
    b = data.draw(values.filter(lambda v: len(v) == len(a)) | st.just(a[::-1]))
    x, y, m = np.array(a, np.uint64), np.array(b, np.uint64), np.uint64(q)
    assert _rns.mulmod(x, y, m).tolist() == [u * v % q for u, v in zip(a, b, strict=True)]
    assert _rns.addmod(x, y, m).tolist() == [(u + v) % q for u, v in zip(a, b, strict=True)]
    assert _rns.submod(x, y, m).tolist() == [(u - v) % q for u, v in zip(a, b, strict=True)]
    assert _rns.negmod(x, m).tolist() == [-u % q for u in a]


def test_mulmod_at_the_edges_of_the_largest_prime() -> None:
    q = max(PRIMES)
    edge = np.array([0, 1, 2, q // 2, q - 2, q - 1], np.uint64)
    x, y = np.meshgrid(edge, edge)
    got = _rns.mulmod(x.ravel(), y.ravel(), np.uint64(q))
    assert got.tolist() == [int(u) * int(v) % q for u, v in zip(x.ravel(), y.ravel(), strict=True)]


def test_signed_values_and_back() -> None:
    q = _rns.column([97, 2**40 - 87])
    v = np.array([-5, 0, 7, -1], np.int64)
    r = _rns.from_signed(v, q)
    assert r.shape == (2, 4)
    assert _rns.centered(r[0], 97).tolist() == v.tolist()
    assert _rns.centered(r[1], 2**40 - 87).tolist() == v.tolist()


def test_the_common_polynomial_is_deterministic_uniform_and_below_each_prime() -> None:
    primes = ring_for(PRESETS["fast"]).key_primes
    a = _rns.uniform_ntt(b"s" * 32, b"pk", primes, 8192)
    assert np.array_equal(a, _rns.uniform_ntt(b"s" * 32, b"pk", primes, 8192))
    assert not np.array_equal(a, _rns.uniform_ntt(b"s" * 32, b"gk", primes, 8192))
    assert not np.array_equal(a, _rns.uniform_ntt(b"t" * 32, b"pk", primes, 8192))
    for row, q in zip(a, primes, strict=True):
        assert int(row.max()) < q
        # uniform mod q: the mean is q/2 within six standard errors
        mean = row.astype(np.float64).mean() / q
        assert abs(mean - 0.5) < 6 * (1 / 12) ** 0.5 / 8192**0.5


def test_short_seeds_and_bad_primes_are_refused() -> None:
    with pytest.raises(ParameterError, match="16 bytes"):
        _rns.uniform_ntt(b"short", b"pk", [97], 8)
    with pytest.raises(ParameterError, match="2\\^62"):
        _rns.column([2**62 + 1])
    with pytest.raises(ParameterError, match="sigma"):
        _rns.gaussian_integers(8, 0.0)
