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
    """Decrypt a KEYSTORE container; returns (header, payload)."""
    header, records = container.from_bytes(data, container.Kind.KEYSTORE)
    fields = header.fields
    try:
        kdf, cipher = fields["kdf"], fields["cipher"]
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if kdf["name"] != "scrypt" or cipher["name"] != "AES-256-GCM":
            raise ValueError("unsupported algorithms")
        power_of_two = n & (n - 1) == 0
        if not (2 <= n <= _MAX_SCRYPT_N and power_of_two and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("implausible KDF parameters")
        if 128 * n * r * p > _MAX_SCRYPT_MEMORY:
            raise ValueError("KDF parameters ask for more than 1 GiB of memory")
        if len(nonce) != 12 or len(salt) < 16:
            raise ValueError("implausible KDF parameters")
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError(f"keystore header is malformed: {exc}") from exc
    if len(records) != 1 or records[0][0] != _TAG_SEALED:
        raise CorruptDataError("keystore does not contain exactly one sealed record")
    key = _derive(passphrase, salt, n, r, p)
    try:
        payload = AESGCM(key).decrypt(nonce, records[0][1], _aad(fields))
    except InvalidTag:
        raise WrongPassphraseError(
            "cannot open the keystore: the passphrase is wrong or the file was modified"
        ) from None
    return fields, payload
