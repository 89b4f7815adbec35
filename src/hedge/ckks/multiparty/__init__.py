"""Multiparty CKKS: collective keys no single party can decrypt under, threshold decryption.

The protocols of Mouchet, Troncoso-Pastoriza, Bossuat and Hubaux, "Multiparty Homomorphic
Encryption from Ring-Learning-with-Errors" (PoPETs 2021), over SEAL's own key and ciphertext
formats with exact numpy arithmetic mod each prime: `keygen` (dealer-free public,
relinearisation and Galois keys), `decryption` (flooded shares and their combination),
`refresh` (the collective refresh of assisted training),
`threshold` (t-of-n by Shamir sharing of the shares), `compact` (bundles a third the size),
`store` (a holder's keystore). The
collective keys form an ordinary `PublicBundle`, so every engine operation runs under them.
"""

from hedge.ckks.multiparty.decryption import (
    DEFAULT_MAX_DECRYPTIONS,
    MASKED_ERROR_BOUND,
    MASKED_VALUE_BOUND,
    DecryptionShare,
    Flooding,
    canonical_scale,
    combine,
    combine_plaintext,
    decryption_share,
    mask_ciphertext,
    masked_for_release,
)
from hedge.ckks.multiparty.keygen import (
    CommonReference,
    KeyShare,
    RelinRound,
    collective_bundle,
    collective_galois_keys,
    collective_public_key,
    collective_relin_keys,
    sum_round1,
    sum_shares,
)
from hedge.ckks.multiparty.local import LocalConsortium
from hedge.ckks.multiparty.refresh import (
    MASKS_BOUND,
    RefreshShare,
    combine_refresh,
    mask_range,
    refresh_share,
)
from hedge.ckks.multiparty.store import HolderKeys

__all__ = [
    "DEFAULT_MAX_DECRYPTIONS",
    "MASKED_ERROR_BOUND",
    "MASKED_VALUE_BOUND",
    "MASKS_BOUND",
    "CommonReference",
    "DecryptionShare",
    "Flooding",
    "HolderKeys",
    "KeyShare",
    "LocalConsortium",
    "RefreshShare",
    "RelinRound",
    "canonical_scale",
    "collective_bundle",
    "collective_galois_keys",
    "collective_public_key",
    "collective_relin_keys",
    "combine",
    "combine_plaintext",
    "combine_refresh",
    "decryption_share",
    "mask_ciphertext",
    "mask_range",
    "masked_for_release",
    "refresh_share",
    "sum_round1",
    "sum_shares",
]
