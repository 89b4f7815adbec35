"""hedge.holder — a key holder's side of threshold mode: signed co-decryption requests, the
holder's own policy, its answers, and the recipient's combination.

The owner, every site and an independent guardian can each be a holder; each runs `Holder`
over its own keystore and audit log. The owner signs a `CoDecryptionRequest` for a job's
result; the cloud relays it with the ciphertexts to every holder; each holder judges it by its
`HolderPolicy` and answers with its share sealed to the recipient; the recipient combines
(`combine_answers`).
"""

from hedge.holder.holder import CLOCK_SKEW, Holder
from hedge.holder.policy import HolderPolicy
from hedge.holder.recipient import combine_answers
from hedge.holder.request import KINDS, MAX_CIPHERTEXTS, CoDecryptionRequest, Coverage

__all__ = ["CLOCK_SKEW", "KINDS", "MAX_CIPHERTEXTS", "CoDecryptionRequest", "Coverage", "Holder",
           "HolderPolicy", "combine_answers"]
