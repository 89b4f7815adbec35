"""A co-decryption as the cloud relays it: the owner's request package, each holder's answer.

Both are hedge containers (`hedge.ckks.container`: a checked JSON header and framed records):

* request package (kind 20): header ``{"message": the owner's signed request}``
  (`hedge.wire.requests`); one record per ciphertext (SEAL's bytes), in the order of the
  request's digests, each equal to its digest (checked when parsed, before anything else).
* answer package (kind 21): header ``{"request", "holder", "digests", "refused"}``; for an
  answer, one record per sealed share (`hedge.wire.shares`) in the order of ``digests``, which
  are the request's; for a refusal, the holder's reason and no record.

The cloud stores and forwards them and can open neither the shares nor the ciphertexts. What a
package tells whoever reads it: the request's fields and which holders answered or refused,
with their reasons.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from hedge.ckks import container
from hedge.ckks.fields import Fields
from hedge.errors import CorruptDataError
from hedge.wire.requests import MAX_CIPHERTEXTS

__all__ = ["ANSWER_KIND", "MAX_PACKAGE", "REQUEST_KIND", "Answer", "RequestPackage"]

REQUEST_KIND = container.application_kind(20)
ANSWER_KIND = container.application_kind(21)
#: Largest package either way: 64 ciphertexts or shares of the deep preset at its top level.
MAX_PACKAGE = MAX_CIPHERTEXTS * (2 * 20 * 32768 * 8 + 4096) + (1 << 20)
_CIPHERTEXT, _SHARE = 1, 2


def _records(raw: bytes, kind: int, tag: int, what: str) -> tuple[Fields, list[bytes]]:
    if not isinstance(raw, bytes) or len(raw) > MAX_PACKAGE:
        raise CorruptDataError(f"a {what} must be bytes of at most {MAX_PACKAGE}")
    header, records = container.from_bytes(raw, kind)
    parts: list[bytes] = []
    for t, payload in records:
        if t != tag or len(parts) >= MAX_CIPHERTEXTS:
            raise CorruptDataError(f"a {what} holds an unexpected record (tag {t}) or too many")
        parts.append(payload)
    return Fields(header.fields, what), parts


@dataclass(frozen=True)
class RequestPackage:
    """The owner's signed request (`message`, still signed: each holder verifies it) and the
    ciphertexts it names."""

    message: dict[str, Any]
    ciphertexts: list[bytes]

    def to_bytes(self) -> bytes:
        return container.to_bytes(REQUEST_KIND, {"message": self.message},
                                  [(_CIPHERTEXT, c) for c in self.ciphertexts])

    @property
    def request_id(self) -> str:
        payload = self.message.get("payload")
        rid = payload.get("request") if isinstance(payload, dict) else None
        if not isinstance(rid, str):
            raise CorruptDataError("a request package's message names no request")
        return rid

    @classmethod
    def from_bytes(cls, raw: bytes) -> RequestPackage:
        """Parse and check a package: `CorruptDataError` for anything malformed, for
        ciphertexts that are not, in order, the ones the message's digests name. The
        signature is the holders' to check."""
        fields, parts = _records(raw, REQUEST_KIND, _CIPHERTEXT, "co-decryption request package")
        message = fields.nested("message")
        payload = message.nested("payload")
        digests = payload.strings("digests", min_items=1, max_items=MAX_CIPHERTEXTS,
                                  max_length=64)
        if [hashlib.sha256(p).hexdigest() for p in parts] != digests:
            raise CorruptDataError("the ciphertexts of this co-decryption request are not the "
                                   "ones its digests name, in order")
        package = cls(message.fields, parts)
        package.request_id  # noqa: B018 - checks that it names one
        return package


@dataclass(frozen=True)
class Answer:
    """One holder's answer to a request: its sealed shares by digest, or its refusal."""

    request: str
    holder: str
    shares: dict[str, bytes]
    refused: str | None = None

    def to_bytes(self) -> bytes:
        digests = list(self.shares)
        header = {"request": self.request, "holder": self.holder, "digests": digests,
                  "refused": self.refused}
        return container.to_bytes(ANSWER_KIND, header,
                                  [(_SHARE, self.shares[d]) for d in digests])

    @classmethod
    def from_bytes(cls, raw: bytes) -> Answer:
        """Parse an answer (`CorruptDataError` for anything malformed); the shares stay sealed
        to their recipient, who opens and checks them."""
        fields, parts = _records(raw, ANSWER_KIND, _SHARE, "co-decryption answer")
        refused = fields.fields.get("refused")
        if refused is not None:
            refused = fields.string("refused", max_length=2000)
        digests = fields.strings("digests", max_items=MAX_CIPHERTEXTS, max_length=64,
                                 distinct=True)
        if len(parts) != len(digests) or (refused is None) == (not digests):
            raise CorruptDataError("a co-decryption answer holds one share per digest, or a "
                                   "refusal and no share")
        return cls(fields.string("request", max_length=32), fields.string(
            "holder", max_length=128), dict(zip(digests, parts, strict=True)), refused)
