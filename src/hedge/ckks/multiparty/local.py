"""Every holder in one process: the whole key generation and co-decryption, in order.

For tests, benchmarks and a demo on one machine; deployed holders run the same steps each on
its own machine (one `KeyShare` each) and exchange only the shares. `rounds` names each
message a holder sends, with its size, so that what crosses the wire can be measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hedge.ckks._engine import power_of_two_steps
from hedge.ckks.keys import PublicBundle
from hedge.ckks.multiparty import decryption, refresh
from hedge.ckks.multiparty.keygen import (
    CommonReference,
    KeyShare,
    collective_bundle,
    collective_galois_keys,
    collective_public_key,
    collective_relin_keys,
    sum_round1,
)
from hedge.ckks.params import Parameters
from hedge.ckks.vector import EncryptedVector
from hedge.errors import KeyMismatchError, ParameterError

__all__ = ["LocalConsortium"]


@dataclass
class LocalConsortium:
    """Holders' shares and the collective bundle, generated without a dealer."""

    params: Parameters
    crs: CommonReference
    shares: dict[str, KeyShare]
    bundle: PublicBundle
    #: bytes each holder sent per round of key generation ({round: bytes})
    sent: dict[str, int] = field(default_factory=dict)

    @classmethod
    def generate(cls, params: Parameters, holders: Sequence[str],
                 rotations: Iterable[int] | None = None) -> LocalConsortium:
        """Run the four rounds for `holders` (at least two distinct names)."""
        if len(holders) < 2 or len(set(holders)) != len(holders):
            raise ParameterError("a consortium needs at least two distinct key holders")
        crs = CommonReference.fresh(params)
        shares = {name: KeyShare.generate(params) for name in holders}
        keys = list(shares.values())
        slots = params.slot_count
        steps = sorted({s for s in (power_of_two_steps(slots) if rotations is None
                                    else rotations) if s % slots})
        pk_shares = [k.public_key_share(crs) for k in keys]
        first = [k.relin_round1(crs) for k in keys]
        round1 = sum_round1(params, [r for _, r in first])
        second = [k.relin_round2(u, round1) for k, (u, _) in zip(keys, first, strict=True)]
        galois = [k.galois_shares(crs, steps) for k in keys]
        bundle = collective_bundle(crs, collective_public_key(crs, pk_shares),
                                   collective_relin_keys(params, round1, second),
                                   collective_galois_keys(crs, galois), steps)
        sent = {"public key": pk_shares[0].nbytes,
                "relinearisation round 1": 2 * first[0][1].h0.nbytes,
                "relinearisation round 2": second[0].h0.nbytes,
                "Galois keys": sum(g.nbytes for g in galois[0].values())}
        return cls(params, crs, shares, bundle, sent)

    def decrypt(self, vector: EncryptedVector, *,
                flooding: decryption.Flooding | float | None = None) -> np.ndarray:
        """Co-decrypt `vector` with every holder's share, each flooded as `flooding` says
        (default `decryption.Flooding()`: every slot within the single-key release's bound; a
        float is the sigma itself). Values of the vector's length."""
        if vector.fingerprint != self.bundle.fingerprint:
            raise KeyMismatchError("this ciphertext was encrypted under another key set")
        flooding = decryption.Flooding() if flooding is None else flooding
        parts = []
        for ct in vector.ciphertexts:
            shares = [decryption.decryption_share(k, n, ct, flooding)
                      for n, k in self.shares.items()]
            parts.append(decryption.combine(self.params, ct, shares, list(self.shares)))
        return np.concatenate(parts)[: vector.length]

    def release(self, vector: EncryptedVector) -> np.ndarray:
        """Co-decrypt `vector` for release: masked to its values first where a level is left
        (`decryption.masked_for_release`, noise sized for them alone), else flooded for every
        slot."""
        if vector.level == 0:
            return self.decrypt(vector)
        masked, flooding = decryption.masked_for_release(vector)
        return self.decrypt(masked, flooding=flooding)

    def refresh(self, vector: EncryptedVector, layout: refresh.Layout) -> EncryptedVector:
        """A collective refresh of `vector` (one ciphertext, masked to its values by the
        caller) into `layout` at the top level (`hedge.ckks.multiparty.refresh`)."""
        flooding = decryption.Flooding(released=vector.length)
        shares = [refresh.refresh_share(k, n, self.bundle, vector, len(self.shares), layout,
                                        flooding) for n, k in self.shares.items()]
        return refresh.combine_refresh(self.bundle, vector, shares, list(self.shares), layout)
