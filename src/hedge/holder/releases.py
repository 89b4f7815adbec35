"""Releases in threshold mode: an artifact's `decrypt(releases)` co-decrypted by the holders.

`ThresholdReleases` is a `hedge.ckks.release.Releases` (what `EncryptedLinearModel.decrypt`,
`EncryptedEvaluation.decrypt` and the statistics release take) whose every release is a
co-decryption through the cloud (`co_decrypt`): it signs a request for the vector's
ciphertexts naming the job, the kind and the uploads the result covers, posts it, waits for
the holders and combines their shares. The values are flooded by the holders
(`hedge.ckks.multiparty.Flooding`: each holder masks the ciphertext to the values released
and sizes its noise for them) and then rounded to a power-of-two grid no finer than the
noise, as a single-key release rounds (post-processing: no security cost). A release of
`indices` floods for the prefix that holds them (the holders mask prefixes) and keeps those.

What the recipient learns: the released values, flooded; nothing else of the ciphertexts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hedge.ckks.multiparty.decryption import DEFAULT_MAX_DECRYPTIONS, Flooding
from hedge.ckks.params import Parameters
from hedge.ckks.release import DEFAULT_ERROR_BOUND, Release, check_indices, rounded
from hedge.ckks.vector import EncryptedVector
from hedge.errors import ParameterError
from hedge.holder.relay import co_decrypt
from hedge.wire.cloud_client import CloudClient
from hedge.wire.requests import CoDecryptionRequest, Coverage
from hedge.wire.shares import ciphertext_digest
from hedge.wire.signing import SigningKey, VerifyKey

__all__ = ["ThresholdReleases"]


@dataclass
class ThresholdReleases:
    """Co-decrypted releases of one job's results for the owner (`recipient`): the
    consortium's parameters, its request signing key, its X25519 key, the holders that
    decrypt (their verification keys; every holder of an n-of-n key, or t of them), what the
    results cover, and the waiting (`timeout`, `poll`, `sleep` as `co_decrypt` takes
    them). `job`: the cloud job's id whose result is released, `kind` and `uploads` as the
    cloud lists them for it (it relays no request that says otherwise,
    `hedge.cloud.result_binding`). `max_releases`: the Q the holders' keys were made with
    (their flooding's, which the stated noise repeats)."""

    client: CloudClient
    consortium: int
    params: Parameters
    owner_key: SigningKey
    recipient_key: X25519PrivateKey
    holders: dict[str, VerifyKey]
    job: str
    kind: str
    uploads: list[Coverage]
    max_releases: int = DEFAULT_MAX_DECRYPTIONS
    recipient: str = "owner"
    timeout: float = 600.0
    poll: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    #: request ids of the releases made, in order (for the owner's audit log)
    requests: list[str] = field(default_factory=list)

    def noise_sigma(self, error_bound: float, released: int) -> float:
        """The noise each of `released` values carries, per value."""
        return self._flooding(error_bound, released).slot_noise(self.params, len(self.holders))

    def _flooding(self, error_bound: float, released: int | None) -> Flooding:
        return Flooding(error_bound, released, self.max_releases)

    def release(self, vector: EncryptedVector, *, error_bound: float = DEFAULT_ERROR_BOUND,
                indices: Sequence[int] | None = None) -> Release:
        """Co-decrypt `vector` (or its `indices`) for release (module doc)."""
        if vector.bundle.params != self.params:
            raise ParameterError("this vector is under another parameter set than the "
                                 "consortium's")
        check_indices(indices, vector.length)
        slots = vector.engine.slots
        prefix = vector.length if indices is None else max(indices) + 1
        released = min(prefix, slots) if vector.level > 0 else None
        flooding = self._flooding(error_bound, released)
        request = CoDecryptionRequest.new(
            consortium=vector.fingerprint, job=self.job, kind=self.kind,
            digests=[ciphertext_digest(c) for c in vector.ciphertexts], uploads=self.uploads,
            recipient=self.recipient, recipient_key=self.recipient_key.public_key(),
            flooding=flooding, holders=sorted(self.holders))
        self.requests.append(request.request)
        parts = co_decrypt(self.client, self.consortium, request.sign(self.owner_key),
                           vector.ciphertexts, self.params, self.recipient_key, self.holders,
                           timeout=self.timeout, poll=self.poll, sleep=self.sleep)
        values = np.concatenate(parts)[: vector.length]
        if indices is not None:
            values = values[list(indices)]
        return rounded(values, error_bound, flooding.slot_noise(self.params, len(self.holders)),
                       self.max_releases)
