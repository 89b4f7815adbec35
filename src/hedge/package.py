"""Model packages: what the owner deploys to a site through the cloud, which cannot read them.

A package is JSON: a manifest signed by the owner (Ed25519, `hedge.signing`) and the model,
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

from hedge.errors import CorruptDataError, PolicyError, SignatureError
from hedge.ml.model import LinearModel
from hedge.signing import SigningKey, VerifyKey, canonical_json

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
        """The policy `to_dict` wrote (None stays None)."""
        if data is None:
            return None
        try:
            return cls(float(data["threshold"]), float(data["hysteresis"]))
        except (KeyError, TypeError, ValueError) as exc:
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
    def of(cls, payload: dict[str, Any]) -> Manifest:
        try:
            return cls(str(payload["site"]), int(payload["sequence"]), int(payload["version"]),
                       str(payload["created"]),
                       bool(payload["rollback"]),
                       None if payload["replaces"] is None else int(payload["replaces"]),
                       str(payload["sha256"]), str(payload["nonce"]),
                       str(payload["kind"]), [str(c) for c in payload["columns"]],
                       AlertPolicy.of(payload.get("alert")))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError(f"the package manifest is malformed: {exc}") from exc


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
        if body.get("format") != "hedge-package-1":
            raise CorruptDataError("not a hedge model package")
        signed, ciphertext = body["manifest"], base64.b64decode(body["model"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptDataError(f"not a hedge model package: {exc}") from exc
    payload = owner.verify(signed)
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
    model = LinearModel.from_dict(json.loads(plain), "the package's model")
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
