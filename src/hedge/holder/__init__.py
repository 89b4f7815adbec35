"""hedge.holder — a key holder's side of threshold mode: its own policy, its answers to
co-decryption requests, and the recipient's combination.

The owner, every site and an independent guardian can each be a holder; each runs `Holder`
over its own keystore and audit log. The owner signs a co-decryption request
(`hedge.wire.requests`) for a job's result; the cloud relays it with the ciphertexts to every
holder (`hedge.wire.relay`); each holder judges it by its `HolderPolicy` and answers with its
shares sealed to the recipient; the recipient combines them (`combine_answers`). Through the
cloud: `answer_pending` (a holder pulls what waits for it) and `co_decrypt` (the recipient
posts and collects); `ThresholdReleases` makes every release of an artifact's `decrypt` a
co-decryption.
"""

from hedge.holder.holder import CLOCK_SKEW, Holder
from hedge.holder.policy import HolderPolicy
from hedge.holder.recipient import combine_answers
from hedge.holder.relay import answer_pending, co_decrypt
from hedge.holder.releases import ThresholdReleases

__all__ = ["CLOCK_SKEW", "Holder", "HolderPolicy", "ThresholdReleases", "answer_pending",
           "co_decrypt", "combine_answers"]
