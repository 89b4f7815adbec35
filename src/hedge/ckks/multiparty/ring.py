"""The RNS ring of one parameter set as the multiparty protocols see it, and its SEAL bridges.

Key-level polynomials (every data prime plus the special prime) carry the keys; a ciphertext at
chain level l carries the first l + 1 data primes. Everything is in NTT form except the flooding
noise, which is sampled as integer coefficients and brought into NTT form by SEAL's transform.
"""

from __future__ import annotations

import functools

import numpy as np
import seal

from hedge.ckks._engine import Engine, engine_for, galois_element
from hedge.ckks.multiparty import _layout, _rns
from hedge.ckks.params import Parameters

__all__ = ["Ring", "ring_for"]


class Ring:
    """Primes, parms ids and conversions for one parameter set (`ring_for` caches one)."""

    def __init__(self, params: Parameters) -> None:
        self.params = params
        self.engine: Engine = engine_for(params)
        ctx = self.engine.context
        key_data = ctx.key_context_data()
        self.n = params.poly_modulus_degree
        self.key_primes = [m.value() for m in key_data.parms().coeff_modulus()]
        self.key_column = _rns.column(self.key_primes)
        self.key_parms_id = tuple(key_data.parms_id())
        #: decomposition count of SEAL's key-switching keys: one key per data prime
        self.decomposition = len(self.key_primes) - 1
        special = self.key_primes[-1]
        #: SEAL's gadget factor of decomposition key j: the special prime mod q_j, on limb j
        self.gadget = _rns.column([special % q for q in self.key_primes[:-1]])

    def galois_index(self, step: int) -> int:
        """The row of SEAL's GaloisKeys that holds the key of a rotation by `step`."""
        return (galois_element(step, self.n) & (2 * self.n - 1)) >> 1

    def column(self, primes: int) -> np.ndarray:
        """The first `primes` primes as a [primes, 1] column."""
        return self.key_column[:primes]

    def level_primes(self, parms_id: tuple[int, ...]) -> int:
        """How many primes a data-level object with `parms_id` carries."""
        data = self.engine.context.get_context_data(list(parms_id))
        if data is None:
            raise ValueError("parms id of no level of this parameter set")
        return int(data.chain_index()) + 1

    def secret_residues(self, secret: seal.SecretKey) -> np.ndarray:
        """A secret key's polynomial at the key level, shape [primes, N]."""
        key = _layout.parse_plaintext(secret.to_string(), self.n, "secret key")
        return np.asarray(key.polys[0])

    def key_noise(self, count: int) -> np.ndarray:
        """`count` fresh error polynomials at the key level (SEAL's sampler, NTT form), shape
        [count, primes, N]: each is -(p0 + p1 s) of a fresh SEAL public key under a throwaway
        secret s."""
        out = np.empty((count, len(self.key_primes), self.n), dtype=np.uint64)
        q = self.key_column
        for k in range(count):
            keygen = seal.KeyGenerator(self.engine.context)
            s = self.secret_residues(keygen.secret_key())
            p = _layout.parse_ciphertext(keygen.create_public_key().to_string()).polys
            out[k] = _rns.negmod(_rns.addmod(p[0], _rns.mulmod(p[1], s, q), q), q)
        return out

    def flooding_ntt(self, primes: int, sigma: float) -> np.ndarray:
        """A rounded Gaussian polynomial of standard deviation `sigma` (OS CSPRNG) in NTT form
        over the first `primes` data primes, shape [primes, N]."""
        coeffs = _rns.gaussian_integers(self.n, sigma)
        q = self.column(primes)
        if not coeffs.any():  # SEAL refuses to transform an all-zero ("transparent") ciphertext
            return np.zeros((primes, self.n), dtype=np.uint64)
        residues = _rns.from_signed(coeffs, q)
        return self.to_ntt(residues, tuple(self.engine.parms_id_at(primes - 1)))

    def to_ntt(self, coefficients: np.ndarray, parms_id: tuple[int, ...]) -> np.ndarray:
        """Coefficient-form residues [primes, N] at a data level into NTT form (SEAL's NTT)."""
        ct = _layout.PolyData(parms_id, np.stack([coefficients, coefficients]), is_ntt=False)
        out = self.engine.evaluator.transform_to_ntt(
            _layout.seal_ciphertext(self.engine.context, ct))
        return np.asarray(_layout.parse_ciphertext(out.to_string()).polys[0])

    def to_coefficients(self, ntt: np.ndarray, parms_id: tuple[int, ...]) -> np.ndarray:
        """NTT-form residues [primes, N] at a data level into coefficients (SEAL's inverse)."""
        ct = _layout.PolyData(parms_id, np.stack([ntt, ntt]))
        out = self.engine.evaluator.transform_from_ntt(
            _layout.seal_ciphertext(self.engine.context, ct))
        return np.asarray(_layout.parse_ciphertext(out.to_string()).polys[0])

    def centered_coefficients(self, ntt: np.ndarray, parms_id: tuple[int, ...]) -> np.ndarray:
        """The integer polynomial behind small NTT-form residues (read off the first prime:
        exact while its coefficients stay below q_0 / 2), int64 [N]."""
        return _rns.centered(self.to_coefficients(ntt, parms_id)[0], self.key_primes[0])


@functools.lru_cache(maxsize=8)
def ring_for(params: Parameters) -> Ring:
    """The shared `Ring` of a parameter set."""
    return Ring(params)
