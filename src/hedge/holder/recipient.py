"""The recipient of a co-decryption: opens every holder's sealed share and combines them.

Only the party a request names as its recipient can open the shares (they are sealed to its
X25519 key, `hedge.wire.shares`); it checks that every holder of the consortium answered, each
under its own signature and for this request and ciphertext, and only then combines. The
cloud that relays the shares holds none of the keys that open them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import seal
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hedge.ckks.multiparty.decryption import DecryptionShare, combine, mask_ciphertext
from hedge.ckks.multiparty.ring import ring_for
from hedge.ckks.params import Parameters
from hedge.errors import KeyMismatchError, SignatureError
from hedge.wire.requests import CoDecryptionRequest
from hedge.wire.shares import ShareContext, ciphertext_digest, open_share
from hedge.wire.signing import VerifyKey

__all__ = ["combine_answers"]


def combine_answers(params: Parameters, request: CoDecryptionRequest,
                    ciphertexts: Sequence[seal.Ciphertext],
                    answers: Mapping[str, Mapping[str, bytes]], recipient_key: X25519PrivateKey,
                    holders: Mapping[str, VerifyKey]) -> list[np.ndarray]:
    """The decrypted slot values of each ciphertext, from `answers` (by holder: what
    `Holder.answer` returned). `holders`: every holder's verification key; the request's
    `holders` (t-of-n), or all of them, must answer. `KeyMismatchError` naming the holders that
    have not answered, an answer from outside them, or a ciphertext the request does not name;
    the sealed shares' own errors as `open_share` raises them. `ciphertexts` are the ones the
    request names (unmasked: where it releases a few values, each is masked here as every
    holder masked it). Nothing is combined before every share has been opened and checked."""
    needed = list(holders) if request.holders is None else list(request.holders)
    missing = sorted(set(needed) - set(answers))
    strangers = sorted(set(answers) - set(needed))
    if missing or strangers:
        raise KeyMismatchError(
            f"request {request.request} needs a share from every holder"
            + (f"; not answered yet: {', '.join(missing)}" if missing else "")
            + (f"; not holders of this key: {', '.join(strangers)}" if strangers else ""))
    digests = [ciphertext_digest(ct) for ct in ciphertexts]
    if digests != list(request.digests):
        raise KeyMismatchError(f"these ciphertexts are not the ones request "
                               f"{request.request} names")
    opened: list[list[DecryptionShare]] = []
    for digest in digests:
        context = ShareContext(request.request, digest, request.recipient)
        shares = []
        for holder, answer in answers.items():
            if digest not in answer:
                raise KeyMismatchError(f"the answer of {holder} holds no share of ciphertext "
                                       f"{digest[:12]}… of request {request.request}")
            share = open_share(answer[digest], context, recipient_key, holders, params)
            if share.holder != holder:
                raise SignatureError(f"the answer delivered as {holder}'s holds a share "
                                     f"{share.holder} signed; refusing it")
            shares.append(share)
        opened.append(shares)
    engine = ring_for(params).engine
    # the holders masked each ciphertext themselves (`Holder`): the same mask here gives the
    # same c0
    masked = [ct if request.released is None else mask_ciphertext(engine, ct, request.released)
              for ct in ciphertexts]
    return [combine(params, ct, shares, needed)
            for ct, shares in zip(masked, opened, strict=True)]
