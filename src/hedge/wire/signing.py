"""Signed messages: Ed25519 (via `cryptography`) over canonical JSON.

The owner signs what it sends to sites (centroids of each k-means round, later model manifests);
a site verifies against the owner's public key it pinned beforehand and acts on nothing that
fails. Canonical form: JSON with sorted keys, no whitespace, UTF-8 (floats as Python's repr,
which round-trips exactly).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from hedge.errors import CorruptDataError, SignatureError, WrongPassphraseError
from hedge.files import write_atomic

__all__ = ["SigningKey", "VerifyKey", "canonical_json", "load_private_key", "save_private_key"]


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=False).encode()


@dataclass(frozen=True)
class VerifyKey:
    """An owner's public verification key (32 bytes, shown as base64)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise CorruptDataError("an Ed25519 public key has 32 bytes")

    def __str__(self) -> str:
        return base64.b64encode(self.raw).decode()

    @classmethod
    def from_str(cls, text: str) -> VerifyKey:
        """The key from its base64 form; `CorruptDataError` for anything else."""
        if not isinstance(text, str):
            raise CorruptDataError(f"a verification key is base64 text, not "
                                   f"{type(text).__name__}")
        try:
            return cls(base64.b64decode(text, validate=True))
        except ValueError as exc:
            raise CorruptDataError(f"not a base64 verification key: {exc}") from exc

    def verify(self, message: Any) -> Any:
        """The payload of a message from `SigningKey.sign` (an object with `payload` and a
        base64 `signature`), or `SignatureError` for anything that is not one, does not
        verify, or cannot be put in canonical form (NaN, infinity, nesting too deep)."""
        if not isinstance(message, dict) or "payload" not in message:
            raise SignatureError("not a signed message: expected an object with 'payload' and "
                                 "'signature'")
        payload, signature_text = message["payload"], message.get("signature")
        if not isinstance(signature_text, str):
            raise SignatureError("not a signed message: its 'signature' is not base64 text")
        try:
            signature = base64.b64decode(signature_text, validate=True)
            canonical = canonical_json(payload)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SignatureError(f"not a signed message: {exc}") from exc
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, canonical)
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError("the signature does not verify: the message was modified or "
                                 "signed by another key; do not use it") from exc
        return payload


class SigningKey:
    """The owner's Ed25519 signing key (held by the owner only)."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key or Ed25519PrivateKey.generate()

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, payload: Any) -> dict[str, Any]:
        """{"payload": payload, "signature": base64} over the payload's canonical JSON."""
        signature = self._key.sign(canonical_json(payload))
        return {"payload": payload, "signature": base64.b64encode(signature).decode()}

    def save(self, path: str | os.PathLike[str], *, passphrase: str) -> None:
        """Write the key as passphrase-encrypted PKCS#8 PEM (mode 0600), atomically."""
        save_private_key(path, self._key, passphrase)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, passphrase: str) -> SigningKey:
        key = load_private_key(path, passphrase, "a signing key")
        if not isinstance(key, Ed25519PrivateKey):
            raise CorruptDataError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return cls(key)


def save_private_key(path: str | os.PathLike[str], key: PrivateKeyTypes,
                     passphrase: str) -> None:
    """A private key as passphrase-encrypted PKCS#8 PEM (mode 0600), written atomically."""
    write_atomic(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                         BestAvailableEncryption(passphrase.encode())))


def load_private_key(path: str | os.PathLike[str], passphrase: str,
                     what: str) -> PrivateKeyTypes:
    """A key `save_private_key` wrote; `CorruptDataError` if the file is missing,
    `WrongPassphraseError` if it does not open (`what` names the key expected)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise CorruptDataError(f"{path} does not exist") from None
    try:
        return load_pem_private_key(raw, passphrase.encode())
    except (ValueError, TypeError) as exc:
        raise WrongPassphraseError(f"{path}: wrong passphrase, or not {what}") from exc
