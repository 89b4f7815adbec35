"""Decryption shares on the wire: signed by their holder, sealed to their recipient.

The cloud relays every holder's share of a co-decryption to the party meant to learn the
result, and must not be able to combine them: each share is encrypted to the recipient's X25519
key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM;
pyca/cryptography's implementation), and signed inside by the holder's Ed25519 key, so the
recipient knows which holders contributed. Both the HPKE info and the signed header carry the
request id, the SHA-256 of the ciphertext and the recipient: a share replayed into another
request, or for another ciphertext, is refused, as is one from a key not among the consortium's
holders.

Layout of the sealed plaintext: u32 length, the holder's signed header (canonical JSON:
holder, request, ciphertext digest, recipient, parms id, shape, SHA-256 of the residues), then
the residues (little-endian u64, primes x N).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import seal
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hedge.ckks.multiparty.decryption import DecryptionShare
from hedge.ckks.params import Parameters
from hedge.errors import CorruptDataError, KeyMismatchError, SignatureError
from hedge.wire.signing import SigningKey, VerifyKey, canonical_json

__all__ = ["ShareContext", "ciphertext_digest", "open_share", "seal_share"]

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_LEN = struct.Struct("<I")
_MAX_HEADER = 1 << 14


def ciphertext_digest(ciphertext: seal.Ciphertext) -> str:
    """SHA-256 of a ciphertext's serialization: what a share is bound to."""
    return hashlib.sha256(ciphertext.to_string()).hexdigest()


@dataclass(frozen=True)
class ShareContext:
    """What one share answers: the request, the ciphertext (its digest) and the recipient."""

    request: str
    digest: str
    recipient: str

    def info(self) -> bytes:
        return b"hedge-decryption-share-v1" + canonical_json(
            {"request": self.request, "digest": self.digest, "recipient": self.recipient})


def seal_share(share: DecryptionShare, context: ShareContext, holder_key: SigningKey,
               recipient: X25519PublicKey) -> bytes:
    """The share, signed by its holder and encrypted to `recipient`."""
    residues = np.ascontiguousarray(share.residues, dtype="<u8").tobytes()
    header = holder_key.sign({
        "holder": share.holder, "request": context.request, "digest": context.digest,
        "recipient": context.recipient, "parms_id": [str(p) for p in share.parms_id],
        "shape": list(share.residues.shape),
        "residues": hashlib.sha256(residues).hexdigest()})
    head = canonical_json(header)
    return _SUITE.encrypt(_LEN.pack(len(head)) + head + residues, recipient, context.info())


def max_share_bytes(params: Parameters) -> int:
    """The largest sealed share a parameter set allows (a top-level share and its header)."""
    return params.poly_modulus_degree * len(params.data_bits) * 8 + _MAX_HEADER + 256


def open_share(data: bytes, context: ShareContext, recipient_key: X25519PrivateKey,
               holders: Mapping[str, VerifyKey], params: Parameters) -> DecryptionShare:
    """Decrypt and check one sealed share: `CorruptDataError` for bytes not sealed to this
    recipient for this context (altered, replayed into another request, for another ciphertext)
    or oversized; `KeyMismatchError` for a holder outside `holders`; `SignatureError` for a
    share its named holder did not sign."""
    if not isinstance(data, bytes) or len(data) > max_share_bytes(params):
        raise CorruptDataError(f"a decryption share must be bytes of at most "
                               f"{max_share_bytes(params)}; refusing it")
    try:
        plain = _SUITE.decrypt(data, recipient_key, context.info())
    except (InvalidTag, ValueError) as exc:
        raise CorruptDataError(
            f"this decryption share does not open for request {context.request!r} at "
            f"{context.recipient!r}: sealed to another recipient, for another request or "
            "ciphertext, or altered on the way; ask its holder again") from exc
    if len(plain) < _LEN.size:
        raise CorruptDataError("a decryption share is truncated")
    (size,) = _LEN.unpack_from(plain)
    if size > _MAX_HEADER or _LEN.size + size > len(plain):
        raise CorruptDataError("a decryption share's header is oversized or truncated")
    try:
        message = json.loads(plain[_LEN.size:_LEN.size + size])
    except (ValueError, RecursionError) as exc:
        raise CorruptDataError(f"a decryption share's header is not JSON: {exc}") from exc
    payload = message.get("payload") if isinstance(message, dict) else None
    holder = payload.get("holder") if isinstance(payload, dict) else None
    if not isinstance(holder, str) or holder not in holders:
        raise KeyMismatchError(f"a decryption share from {holder!r:.60}, who is not a key "
                               "holder of this consortium; refusing it")
    header = holders[holder].verify(message)
    expected = {"holder": holder, "request": context.request, "digest": context.digest,
                "recipient": context.recipient}
    if any(header.get(k) != v for k, v in expected.items()):
        raise SignatureError(f"the share {holder} signed is for another request or ciphertext "
                             "than the one it was sealed for; refusing it")
    residues = plain[_LEN.size + size:]
    shape = header.get("shape")
    primes = len(params.data_bits)
    if (not isinstance(shape, list) or len(shape) != 2 or shape[1] != params.poly_modulus_degree
            or not isinstance(shape[0], int) or not 1 <= shape[0] <= primes
            or len(residues) != 8 * shape[0] * shape[1]
            or hashlib.sha256(residues).hexdigest() != header.get("residues")):
        raise CorruptDataError(f"the share of {holder} does not hold the residues its header "
                               "describes")
    try:
        parms_id = tuple(int(p) for p in header["parms_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError(f"the share of {holder} has no valid parms id") from exc
    values = np.frombuffer(residues, dtype="<u8").reshape(shape).copy()
    return DecryptionShare(holder, parms_id, values)
