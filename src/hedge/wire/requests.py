"""A co-decryption request: what the owner asks every key holder to decrypt, signed.

A holder co-decrypts only what a request names, and the request is the owner's Ed25519
signature (`hedge.wire.signing`, the key every site pinned at enrolment) over:

* ``request``: a fresh random id (32 hex digits): a holder answers each id once;
* ``consortium``: the collective key's fingerprint;
* ``job``, ``kind``: the job whose result this is and what it is (`KINDS`);
* ``digests``: the SHA-256 of each ciphertext (`hedge.wire.shares.ciphertext_digest`), in
  order: a holder decrypts those ciphertexts and no others;
* ``released``, ``error_bound``: how the holders size their flooding
  (`hedge.ckks.multiparty.Flooding`: null when every slot is flooded, else the values each
  ciphertext was masked to);
* ``uploads``: the uploads the result covers, each with its site and row count, which is what
  the holders' policies judge (`hedge.holder.policy`);
* ``recipient``, ``recipient_key``: who learns the result and its X25519 key, to which every
  share is sealed (`hedge.wire.shares`);
* ``holders``: for a key dealt t-of-n, the t holders that decrypt (each weighs its point for
  exactly that set); null for an n-of-n key, which every holder decrypts;
* ``issued``, ``expires``: Unix seconds; a holder refuses a request outside that window.

What a holder learns from a request: these fields, all of which the cloud and the owner know
too; no value.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from hedge.ckks.fields import Fields
from hedge.ckks.multiparty.decryption import ERROR_BOUND_RANGE, Flooding
from hedge.errors import CorruptDataError, ParameterError
from hedge.wire.signing import SigningKey, VerifyKey

__all__ = ["KINDS", "MAX_CIPHERTEXTS", "CoDecryptionRequest", "Coverage", "is_request_id"]

#: What a co-decryption may release (a refresh is a separate protocol).
KINDS = ("model", "aggregate", "evaluation")
#: Ciphertexts one request may name.
MAX_CIPHERTEXTS = 64
_MAX_UPLOADS = 100_000
_MAX_LIFETIME = 7 * 24 * 3600.0
_HEX = frozenset("0123456789abcdef")


def is_request_id(text: str) -> bool:
    """Whether `text` is a request id: 32 lowercase hex digits."""
    return len(text) == 32 and set(text) <= _HEX


@dataclass(frozen=True)
class Coverage:
    """One upload a result covers: its id, its site and its row count."""

    upload: int
    site: str
    rows: int


@dataclass(frozen=True)
class CoDecryptionRequest:
    """The fields above, checked; `sign` and `verify` carry it between the parties."""

    request: str
    consortium: str
    job: str
    kind: str
    digests: tuple[str, ...]
    released: int | None
    error_bound: float
    uploads: tuple[Coverage, ...]
    recipient: str
    recipient_key: str
    issued: float
    expires: float
    holders: tuple[str, ...] | None = None

    @classmethod
    def new(cls, *, consortium: str, job: str, kind: str, digests: list[str],
            uploads: list[Coverage], recipient: str, recipient_key: X25519PublicKey,
            flooding: Flooding, holders: list[str] | None = None,
            lifetime: float = 24 * 3600.0) -> CoDecryptionRequest:
        """A request with a fresh id, valid from now for `lifetime` seconds (`ParameterError`
        for fields out of range)."""
        now = time.time()
        raw = recipient_key.public_bytes_raw()
        request = cls(secrets.token_hex(16), consortium, job, kind, tuple(digests),
                      flooding.released, flooding.error_bound, tuple(uploads), recipient,
                      base64.b64encode(raw).decode(), now, now + lifetime,
                      None if holders is None else tuple(holders))
        try:
            return cls.from_payload(request.payload())
        except CorruptDataError as exc:
            raise ParameterError(str(exc)) from exc

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.uploads)

    def recipient_public_key(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(base64.b64decode(self.recipient_key))

    def payload(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["digests"] = list(self.digests)
        fields["uploads"] = [asdict(u) for u in self.uploads]
        fields["holders"] = None if self.holders is None else list(self.holders)
        return {"version": 1, **fields}

    def sign(self, owner_key: SigningKey) -> dict[str, Any]:
        """The signed message that travels (the owner's signature over the payload)."""
        return owner_key.sign(self.payload())

    @classmethod
    def verify(cls, message: Any, owner: VerifyKey) -> CoDecryptionRequest:
        """The request in `message` if `owner` signed it (`SignatureError` otherwise) and every
        field is well formed (`CorruptDataError` naming the field)."""
        return cls.from_payload(owner.verify(message))

    @classmethod
    def from_payload(cls, payload: Any) -> CoDecryptionRequest:
        f = Fields(payload, "co-decryption request")
        f.integer("version", 1, 1)
        request = f.string("request", max_length=32)
        if not is_request_id(request):
            raise f.fail("request", "32 lowercase hex digits")
        digests = f.strings("digests", min_items=1, max_items=MAX_CIPHERTEXTS, max_length=64,
                            distinct=True)
        if any(len(d) != 64 or not set(d) <= _HEX for d in digests):
            raise f.fail("digests", "SHA-256 digests (64 lowercase hex digits each)")
        released = f.integer("released", 1, 1 << 20, nullable=True)
        error_bound = f.number("error_bound", *ERROR_BOUND_RANGE)
        raw = f.fields.get("uploads")
        if not isinstance(raw, list) or not 1 <= len(raw) <= _MAX_UPLOADS:
            raise f.fail("uploads", f"a list of 1 to {_MAX_UPLOADS} uploads")
        uploads = []
        for i, item in enumerate(raw):
            u = Fields(item, f"co-decryption request: upload {i}")
            uploads.append(Coverage(u.integer("upload", 1, 2**53), u.string("site",
                                    max_length=128), u.integer("rows", 0, 2**53)))
        if len({u.upload for u in uploads}) != len(uploads):
            raise f.fail("uploads", "distinct uploads")
        key = f.string("recipient_key", max_length=64)
        try:
            if len(base64.b64decode(key, validate=True)) != 32:
                raise ValueError("not 32 bytes")
        except ValueError as exc:
            raise f.fail("recipient_key", "an X25519 public key (32 bytes, base64)") from exc
        issued = f.number("issued", 0, 2.0**40)
        expires = f.number("expires", issued, issued + _MAX_LIFETIME, open_low=True)
        holders = (None if f.fields.get("holders") is None else tuple(
            f.strings("holders", min_items=1, max_items=64, max_length=128, distinct=True)))
        return cls(request, f.string("consortium", max_length=64),
                   f.string("job", max_length=128), f.string("kind", choices=KINDS),
                   tuple(digests), released, error_bound, tuple(uploads),
                   f.string("recipient", max_length=128), key, issued, expires, holders)
