"""Model packages: what the owner deploys to a site through the cloud, which cannot read them.

A package is JSON: a manifest signed by the owner (Ed25519, `hedge.wire.signing`) and the model,
encrypted for the one site with AES-256-GCM under the site's package key (32 random bytes the
owner creates at enrolment and hands to the site with its token, out of band; the cloud never
sees it). The manifest binds everything the site relies on:

    {site, sequence, version, created, rollback, replaces, ciphertext SHA-256, nonce, kind,
     columns}

and the ciphertext's associated data is the manifest's canonical JSON, so the model cannot be
moved to another manifest. A site accepts a package only if the signature verifies against the
owner key it pinned, the manifest names it, the ciphertext matches, and the version is newer
than the active one — or the owner signed it as a rollback from exactly the active version
(`replaces`) — and its `sequence` (the owner's signed publication counter for the site) is above
every sequence the site installed before, so that no package installed once, rollbacks
included, can be replayed later.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hedge.ckks.fields import Fields
from hedge.errors import CorruptDataError, PolicyError, SignatureError
from hedge.ml.model import LinearModel
from hedge.wire.signing import SigningKey, VerifyKey, canonical_json

__all__ = ["AlertPolicy", "Manifest", "build_package", "new_package_key", "open_package",
           "package_key"]


def new_package_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True)
class AlertPolicy:
    """When the edges raise an alert: a predicted probability at or above `threshold` turns
    it on; it turns off only below `threshold - hysteresis` (no flapping around the line)."""

    threshold: float = 0.5
    hysteresis: float = 0.0

    def __post_init__(self) -> None:
        if not (0 < self.threshold < 1 and 0 <= self.hysteresis < self.threshold):
            raise PolicyError(f"an alert needs 0 < threshold < 1 and 0 <= hysteresis < "
                              f"threshold, not {self.threshold} and {self.hysteresis}")

    def to_dict(self) -> dict[str, float]:
        return {"threshold": self.threshold, "hysteresis": self.hysteresis}

    @classmethod
    def of(cls, data: Any) -> AlertPolicy | None:
        """The policy `to_dict` wrote (None stays None); `CorruptDataError` naming the field
        for anything else (numbers of exact JSON types, 0 < threshold < 1,
        0 <= hysteresis < threshold)."""
        if data is None:
            return None
        fields = Fields(data, "the alert policy")
        threshold = fields.number("threshold", 0.0, 1.0, open_low=True)
        hysteresis = fields.number("hysteresis", 0.0, 1.0)
        try:
            return cls(threshold, hysteresis)
        except PolicyError as exc:
            raise CorruptDataError(f"the alert policy is malformed: {exc}") from exc


@dataclass(frozen=True)
class Manifest:
    site: str
    sequence: int
    version: int
    created: str
    rollback: bool
    replaces: int | None
    sha256: str
    nonce: str
    kind: str
    columns: list[str]
    alert: AlertPolicy | None = None  # signed with the model; None: the edge's own setting

    @classmethod
    def of(cls, payload: Any) -> Manifest:
        """The manifest `build_package` signed, checked field by field with exact JSON types;
        `CorruptDataError` naming the field if not."""
        f = Fields(payload, "the package manifest")
        rollback, replaces = f.boolean("rollback"), f.integer("replaces", 0, _MAX_INT,
                                                              nullable=True)
        if rollback != (replaces is not None):
            raise f.fail("replaces", "the version a rollback replaces, and null otherwise")
        sha256 = f.string("sha256", max_length=64)
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise f.fail("sha256", "64 lowercase hexadecimal digits")
        return cls(f.string("site", max_length=256), f.integer("sequence", 1, _MAX_INT),
                   f.integer("version", 0, _MAX_INT), f.string("created", max_length=64),
                   rollback, replaces, sha256, f.string("nonce", max_length=64),
                   f.string("kind", choices=("logistic", "ridge")),
                   f.strings("columns", max_items=1 << 16, max_length=1024, distinct=True),
                   AlertPolicy.of(payload.get("alert")))


_MAX_INT = (1 << 63) - 1  # sequences and versions: what a signed 64-bit integer holds


def build_package(model: LinearModel, *, site: str, sequence: int, version: int,
                  signing_key: SigningKey, package_key: bytes,
                  replaces: int | None = None, alert: AlertPolicy | None = None) -> bytes:
    """The owner's side: encrypt `model` for `site` and sign the manifest. `sequence`: the
    owner's publication counter for the site (1, 2, ...: every package it publishes there
    gets the next one). With `replaces` (the version active at the site now, newer than
    `version`), a signed rollback. `alert`: the threshold and hysteresis the edges alert
    with (signed with the model)."""
    if sequence < 1:
        raise PolicyError(f"publication sequence numbers start at 1, not {sequence}")
    if replaces is not None and replaces <= version:
        raise PolicyError(f"a rollback to version {version} must replace a newer version, not "
                          f"{replaces}")
    nonce = os.urandom(12)
    manifest = {"site": site, "sequence": int(sequence), "version": int(version),
                "rollback": replaces is not None,
                "replaces": replaces,
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "nonce": base64.b64encode(nonce).decode(), "kind": model.kind,
                "columns": list(model.columns)}
    if alert is not None:
        manifest["alert"] = alert.to_dict()
    plain = canonical_json(model.to_dict())
    # the hash of the ciphertext is part of the manifest, and the manifest (without it) is the
    # associated data of the encryption
    ciphertext = AESGCM(package_key).encrypt(nonce, plain, canonical_json(manifest))
    manifest["sha256"] = hashlib.sha256(ciphertext).hexdigest()
    signed = signing_key.sign(manifest)
    return json.dumps({"format": "hedge-package-1", "manifest": signed,
                       "model": base64.b64encode(ciphertext).decode()}).encode()


def open_package(raw: bytes, *, site: str, owner: VerifyKey, package_key: bytes,
                 active_version: int | None, highest_version: int | None = None,
                 last_sequence: int = 0) -> tuple[Manifest, LinearModel]:
    """The site's side: verify, check, decrypt. `SignatureError` (tampered, another signer),
    `PolicyError` (not for this site, a sequence not above `last_sequence` — the highest
    signed sequence the site installed — , not newer than every version installed so far, or
    a rollback that does not replace the active version), `CorruptDataError` (malformed, wrong
    key). `highest_version`: the newest version the site ever installed (after a rollback it
    is above the active one, so the package rolled back from cannot be replayed)."""
    try:
        body = json.loads(raw)
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise CorruptDataError(f"not a hedge model package: not JSON ({exc})") from exc
    if not isinstance(body, dict) or body.get("format") != "hedge-package-1":
        raise CorruptDataError("not a hedge model package: no 'format' of hedge-package-1")
    model_text = Fields(body, "the model package").string("model", max_length=1 << 30)
    try:
        ciphertext = base64.b64decode(model_text, validate=True)
    except ValueError as exc:
        raise CorruptDataError(f"the model package's model is not base64: {exc}") from exc
    payload = owner.verify(body.get("manifest"))
    manifest = Manifest.of(payload)
    if manifest.site != site:
        raise PolicyError(f"this package is for site {manifest.site!r}, not {site!r}")
    if hashlib.sha256(ciphertext).hexdigest() != manifest.sha256:
        raise SignatureError("the model does not match its signed manifest: modified in transit")
    if manifest.sequence <= last_sequence:
        raise PolicyError(f"this package has publication sequence {manifest.sequence}; this "
                          f"site installed up to {last_sequence}: a replay; refused")
    if manifest.rollback:
        if active_version is None or manifest.replaces != active_version:
            raise PolicyError(f"this rollback replaces version {manifest.replaces}, the active "
                              f"one is {active_version}: an old rollback replayed; refused")
    else:
        floor = max(v for v in (active_version, highest_version, 0) if v is not None)
        if manifest.version <= floor:
            raise PolicyError(f"version {manifest.version} is not newer than every version "
                              f"installed here (up to {floor}) and not a signed rollback: a "
                              "replay or a downgrade; refused")
    associated = {k: v for k, v in payload.items() if k != "sha256"}
    try:
        plain = AESGCM(package_key).decrypt(base64.b64decode(manifest.nonce), ciphertext,
                                            canonical_json(associated))
    except (InvalidTag, ValueError) as exc:
        raise CorruptDataError("the package does not decrypt with this site's package key") from exc
    try:
        model = LinearModel.from_dict(json.loads(plain), "the package's model")
    except (ValueError, RecursionError) as exc:  # SchemaError is a ValueError too
        raise CorruptDataError(f"the package's model is malformed: {exc}") from exc
    if model.kind != manifest.kind or model.columns != manifest.columns:
        raise CorruptDataError("the model does not match its manifest")
    return manifest, model


def package_key(text: str) -> bytes:
    """A site's package key from its enrolment file (base64, 32 bytes)."""
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise CorruptDataError(f"the package key is not base64: {exc}") from exc
    if len(key) != 32:
        raise CorruptDataError("a package key has 32 bytes")
    return key
