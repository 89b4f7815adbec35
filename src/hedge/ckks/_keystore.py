"""Passphrase-encrypted keystore: scrypt key derivation + AES-256-GCM (pyca/cryptography).

The whole container header (KDF parameters, salt, nonce, parameter id, fingerprint) is bound to
the ciphertext as associated data, so changing any of it is detected like a wrong passphrase.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hedge.ckks import container
from hedge.ckks.fields import Fields
from hedge.errors import CorruptDataError, ParameterError, WrongPassphraseError

SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
_MAX_SCRYPT_N = 2**20
_MAX_SCRYPT_MEMORY = 1 << 30  # 128 * n * r * p bytes
_TAG_SEALED = 1


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise WrongPassphraseError("an empty passphrase is not allowed for a keystore")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def seal_payload(payload: bytes, passphrase: str, public_header: dict[str, Any]) -> bytes:
    """Encrypt `payload` under the passphrase; returns a KEYSTORE container."""
    if not passphrase:
        raise ParameterError("an empty passphrase is not allowed for a keystore")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = dict(public_header)
    header["kdf"] = {
        "name": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode(),
    }
    header["cipher"] = {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()}
    key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = AESGCM(key).encrypt(nonce, payload, _aad(header))
    return container.to_bytes(container.Kind.KEYSTORE, header, [(_TAG_SEALED, sealed)])


def open_payload(data: bytes, passphrase: str) -> tuple[dict[str, Any], bytes]:
    """Decrypt a KEYSTORE container; returns (header, payload). `CorruptDataError` for a
    malformed container or header (checked before any key derivation, so implausible KDF
    parameters cost nothing), `WrongPassphraseError` when it does not decrypt."""
    header, records = container.from_bytes(data, container.Kind.KEYSTORE)
    fields = Fields(header.fields, "keystore header")
    kdf, cipher = fields.nested("kdf"), fields.nested("cipher")
    kdf.string("name", choices=("scrypt",))
    cipher.string("name", choices=("AES-256-GCM",))
    n = kdf.integer("n", 2, _MAX_SCRYPT_N)
    r, p = kdf.integer("r", 1, 32), kdf.integer("p", 1, 16)
    if n & (n - 1):
        raise kdf.fail("n", "a power of two")
    if 128 * n * r * p > _MAX_SCRYPT_MEMORY:
        raise kdf.fail("n", "KDF parameters that need at most 1 GiB of memory (128 n r p)")
    salt = _base64(kdf, "salt")
    nonce = _base64(cipher, "nonce")
    if len(salt) < 16:
        raise kdf.fail("salt", "at least 16 bytes")
    if len(nonce) != 12:
        raise cipher.fail("nonce", "12 bytes")
    if len(records) != 1 or records[0][0] != _TAG_SEALED:
        raise CorruptDataError("keystore does not contain exactly one sealed record")
    key = _derive(passphrase, salt, n, r, p)
    try:
        payload = AESGCM(key).decrypt(nonce, records[0][1], _aad(header.fields))
    except InvalidTag:
        raise WrongPassphraseError(
            "cannot open the keystore: the passphrase is wrong or the file was modified"
        ) from None
    return header.fields, payload


def _base64(fields: Fields, key: str) -> bytes:
    text = fields.string(key, max_length=1024)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise fields.fail(key, "base64 text") from None
