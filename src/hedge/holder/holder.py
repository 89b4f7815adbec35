"""A key holder answering co-decryption requests: its share, its policy, its audit log.

`Holder.answer` takes a signed request (`hedge.wire.requests`) and the ciphertexts it names
(bytes, as the cloud relays them) and returns this holder's decryption share of each, signed
by the holder and sealed to the request's recipient (`hedge.wire.shares`), or refuses. In
order, before anything is decrypted: the owner's signature; the consortium (the key this
holder has a share of); the request's time window; a request id answered or refused before
(replay); the holders the request names (every holder for an n-of-n key, exactly t with this
one among them for a t-of-n key); each ciphertext against its digest, at its level's scale
(the noise is sized at that scale, never at one a ciphertext claims), masked by the holder
itself to the values released; the holder's policy (`hedge.holder.policy`, judged against the
requests it answered, read back from its audit log, and those other holders answered, as the
cloud records them); an operator's approval where the policy asks for one; the co-decryption
budget. Then every share is computed and sealed, the budget counted in the keystore (written
before anything is returned, so a crash never gives back a spent decryption) and the decision
audited with what the request covers. Every refusal of a verified request is audited with its
reason, and raised: `PolicyError` for the policy, the budget, replays and expiry (but
`ApprovalPendingError`, which leaves the request pending); `CorruptDataError`,
`KeyMismatchError` or `DepthExhaustedError` for a request or ciphertext that is not what it
claims or cannot be masked. A request whose signature fails (`SignatureError`) is refused and
logged, not audited: anyone can send one.

One `Holder` per audit log: the log is locked against a second writer (`hedge.audit`), and a
holder answers one request at a time.

What a holder learns: the request's fields and the ciphertexts, which are encrypted under the
collective key; its share of a ciphertext is c1 s_i flooded, which tells the recipient nothing
about s_i (`hedge.ckks.multiparty.decryption`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import seal

from hedge.audit import AuditEntry, AuditLog
from hedge.ckks.multiparty import _layout
from hedge.ckks.multiparty.decryption import (
    Flooding,
    canonical_scale,
    decryption_share,
    mask_ciphertext,
)
from hedge.ckks.multiparty.ring import ring_for
from hedge.ckks.multiparty.store import HolderKeys
from hedge.errors import (
    ApprovalPendingError,
    CorruptDataError,
    DepthExhaustedError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
)
from hedge.holder.policy import Answered, HolderPolicy
from hedge.wire.requests import CoDecryptionRequest, Coverage
from hedge.wire.shares import ShareContext, ciphertext_digest, seal_share
from hedge.wire.signing import SigningKey, VerifyKey

__all__ = ["CLOCK_SKEW", "REFUSALS", "Holder", "refusal_reason"]

log = logging.getLogger(__name__)

#: Seconds a request's issue time may lie ahead of this holder's clock.
CLOCK_SKEW = 300.0
_ANSWERED, _REFUSED = "co-decrypt", "refused"
#: What a holder refuses a request for (audited, and put back as its answer): its policy, and
#: a request or ciphertext that is not what it claims or cannot be masked.
REFUSALS = (PolicyError, CorruptDataError, KeyMismatchError, DepthExhaustedError)


def refusal_reason(exc: HedgeError) -> str:
    """What a refusal says: a policy's own words, else the error's kind and message (at most
    2,000 characters)."""
    return (str(exc) if isinstance(exc, PolicyError) else f"{type(exc).__name__}: {exc}")[:2000]


class Holder:
    """One holder: its keystore (`HolderKeys`, opened per request with `passphrase`), its
    Ed25519 `signing_key` (its shares' signature), the `owner`'s verification key (the
    requests' signature), its `policy` and its `audit` log."""

    def __init__(self, keystore: str | os.PathLike[str], passphrase: str,
                 signing_key: SigningKey, owner: VerifyKey, policy: HolderPolicy,
                 audit: AuditLog) -> None:
        self.keystore, self._passphrase = Path(keystore), passphrase
        self.signing_key, self.owner, self.policy, self.audit = (signing_key, owner, policy,
                                                                 audit)
        keys = HolderKeys.load(self.keystore, passphrase=passphrase)
        self.name, self.fingerprint = keys.holder, keys.fingerprint
        self._lock = threading.Lock()

    def answer(self, message: Any, ciphertexts: Sequence[bytes], *,
               approved_by: str | None = None, known: Sequence[Any] = (),
               now: float | None = None) -> dict[str, bytes]:
        """This holder's sealed share of each ciphertext, by digest (module doc). `known`: the
        signed messages of requests other holders answered (the cloud's record, for a key
        dealt t-of-n, where this holder did not see every request): the policy's differencing
        compares against them too, each verified under the owner's key first. A request whose
        signature fails is refused without an audit entry (anyone can send one; it is
        logged)."""
        try:
            request = CoDecryptionRequest.verify(message, self.owner)
        except HedgeError as exc:
            log.warning("%s: refused a co-decryption request that does not verify: %s",
                        self.name, exc)
            raise
        with self._lock:
            try:
                return self._answer(request, ciphertexts, approved_by, known,
                                    time.time() if now is None else now)
            except ApprovalPendingError:
                raise
            except REFUSALS as exc:
                self.audit.append(_REFUSED, request.job, {"request": request.request,
                                                          "reason": refusal_reason(exc)})
                raise

    def _answer(self, request: CoDecryptionRequest, raw: Sequence[bytes],
                approved_by: str | None, known: Sequence[Any], now: float) -> dict[str, bytes]:
        rid = request.request
        if request.consortium != self.fingerprint:
            raise KeyMismatchError(f"request {rid} is for the key {request.consortium[:12]}…, "
                                   f"this holder holds a share of {self.fingerprint[:12]}…")
        if not request.issued - CLOCK_SKEW <= now <= request.expires:
            raise PolicyError(f"request {rid} is valid only between {request.issued:.0f} and "
                              f"{request.expires:.0f} (Unix time), not at {now:.0f}; ask the "
                              "owner for a new one")
        entries = self.audit.entries()
        if any(e.details.get("request") == rid for e in entries
               if e.event in (_ANSWERED, _REFUSED)):
            raise PolicyError(f"request {rid} was answered or refused before: a request is "
                              "answered once (a replay?); ask the owner for a new one")
        keys = HolderKeys.load(self.keystore, passphrase=self._passphrase)
        active = keys.holders if request.holders is None else request.holders
        if self.name not in active:
            raise KeyMismatchError(f"request {rid} names the holders {list(active)}, not "
                                   f"{self.name}: it is not asked to decrypt")
        try:
            key = keys.decryption_key(active)
        except ParameterError as exc:
            raise KeyMismatchError(f"request {rid} does not fit this holder's key: {exc}") from exc
        cts = self._ciphertexts(keys, request, raw)
        reason = self.policy.refusal(request, _answered(entries) + self._known(known, rid))
        if reason is not None:
            raise PolicyError(f"holder {self.name} refuses request {rid}: {reason}")
        if self.policy.approval == "operator" and not approved_by:
            raise ApprovalPendingError(f"request {rid} ({request.kind} of job {request.job}) "
                                       f"waits for an operator of {self.name} to approve it")
        left = keys.budget - keys.decryptions_used
        if left < len(cts):
            raise PolicyError(f"holder {self.name} has {left} co-decryptions left, the request "
                              f"needs {len(cts)}; the consortium needs new keys")
        flooding = Flooding(request.error_bound, request.released, keys.max_decryptions)
        try:
            recipient = request.recipient_public_key()
            # every share computed and sealed before anything is counted: a failure spends
            # nothing, and after the count nothing can fail but writing the audit entry
            sealed = {digest: seal_share(decryption_share(key, self.name, ct, flooding),
                                         ShareContext(rid, digest, request.recipient),
                                         self.signing_key, recipient)
                      for digest, ct in zip(request.digests, cts, strict=True)}
        except ValueError as exc:  # a recipient key X25519 cannot use, a sigma out of range
            raise CorruptDataError(f"request {rid} cannot be answered: {exc}") from exc
        for _ in cts:
            keys.spend()
        keys.save(self.keystore, passphrase=self._passphrase)
        self.audit.append(_ANSWERED, request.job, {
            "request": rid, "kind": request.kind, "ciphertexts": len(cts),
            "uploads": [[u.upload, u.site, u.rows] for u in request.uploads],
            "recipient": request.recipient, "approved_by": approved_by,
            "decryptions_used": keys.decryptions_used})
        return sealed

    def _known(self, known: Sequence[Any], rid: str) -> list[Answered]:
        """The uploads of the other answered requests in `known`, each verified (a message
        that does not verify, or is for another key, is refused as corrupt)."""
        out = []
        for message in known:
            other = CoDecryptionRequest.verify(message, self.owner)
            if other.consortium != self.fingerprint:
                raise CorruptDataError(f"the record of answered requests given with {rid} "
                                       "holds one for another key")
            if other.request != rid:
                out.append(Answered(other.request, other.kind, other.uploads))
        return out

    def _ciphertexts(self, keys: HolderKeys, request: CoDecryptionRequest,
                     raw: Sequence[bytes]) -> list[seal.Ciphertext]:
        """The ciphertexts, each loaded by SEAL's validating loader, equal to its digest, at its
        level's scale, and masked by this holder itself to the values the request releases
        (`mask_ciphertext`: the noise is sized for those, so the mask is not taken on trust)."""
        if len(raw) != len(request.digests):
            raise CorruptDataError(f"request {request.request} names {len(request.digests)} "
                                   f"ciphertexts, {len(raw)} came with it")
        slots = keys.params.slot_count
        if request.released is not None and request.released > slots:
            raise CorruptDataError(f"request {request.request} releases {request.released} "
                                   f"values per ciphertext, more than its {slots} slots")
        engine = ring_for(keys.params).engine
        context = engine.context
        largest = 2 * len(keys.params.data_bits) * keys.params.poly_modulus_degree * 8 + 1024
        cts = []
        for i, (data, digest) in enumerate(zip(raw, request.digests, strict=True)):
            if not isinstance(data, bytes) or len(data) > largest:
                raise CorruptDataError(f"ciphertext {i} of request {request.request} is not "
                                       f"bytes of at most {largest}")
            ct = _layout.load(context.from_cipher_str, data, f"ciphertext {i}")
            if ciphertext_digest(ct) != digest:
                raise KeyMismatchError(f"ciphertext {i} is not the one request "
                                       f"{request.request} names (its SHA-256 differs); "
                                       "nothing was decrypted")
            canonical_scale(engine, ct)
            cts.append(ct if request.released is None
                       else mask_ciphertext(engine, ct, request.released))
        return cts


def _answered(entries: Sequence[AuditEntry]) -> list[Answered]:
    return [Answered(e.details["request"], e.details["kind"],
                     tuple(Coverage(*u) for u in e.details["uploads"]))
            for e in entries if e.event == _ANSWERED]
