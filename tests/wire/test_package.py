"""Model packages: only the right site opens them, and only when they are genuine and new."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from hedge.errors import CorruptDataError, PolicyError, SignatureError
from hedge.ml import LinearModel
from hedge.wire.package import build_package, new_package_key, open_package
from hedge.wire.signing import SigningKey

OWNER = SigningKey()
KEY = new_package_key()
MODEL = LinearModel(["a", "b"], 0.25, np.array([1.5, -2.0]))


def package(version: int = 2, replaces: int | None = None, site: str = "plant-1",
            owner: SigningKey = OWNER, key: bytes = KEY, sequence: int = 10) -> bytes:
    return build_package(MODEL, site=site, sequence=sequence, version=version,
                         signing_key=owner, package_key=key, replaces=replaces)


def opened(raw: bytes, active: int | None = 1, key: bytes = KEY, last_sequence: int = 0) -> int:
    manifest, model = open_package(raw, site="plant-1", owner=OWNER.verify_key,
                                   package_key=key, active_version=active,
                                   last_sequence=last_sequence)
    assert model.columns == MODEL.columns and np.allclose(model.coef, MODEL.coef)
    return manifest.version


def test_a_genuine_newer_package_opens() -> None:
    raw = package()
    assert opened(raw) == 2 and opened(raw, active=None) == 2
    assert b"1.5" not in base64.b64decode(json.loads(raw)["model"])  # the model is encrypted


def tamper(raw: bytes, where: str) -> bytes:
    body = json.loads(raw)
    if where == "model":
        blob = bytearray(base64.b64decode(body["model"]))
        blob[5] ^= 1
        body["model"] = base64.b64encode(bytes(blob)).decode()
    else:
        body["manifest"]["payload"]["version"] = 9
    return json.dumps(body).encode()


@pytest.mark.parametrize("where", ["model", "manifest"])
def test_tampering_is_detected(where: str) -> None:
    with pytest.raises(SignatureError):
        opened(tamper(package(), where))


def test_a_stranger_cannot_sign_and_a_site_cannot_open_another_sites_package() -> None:
    with pytest.raises(SignatureError):
        opened(package(owner=SigningKey()))
    with pytest.raises(PolicyError, match="for site 'plant-2'"):
        opened(package(site="plant-2"))
    with pytest.raises(CorruptDataError, match="package key"):
        opened(package(), key=new_package_key())


def test_replays_and_downgrades_are_refused_rollbacks_need_a_signature() -> None:
    old = package(version=2)
    for active in (2, 3):
        with pytest.raises(PolicyError, match="not newer"):
            opened(old, active=active)
    rollback = package(version=2, replaces=3)
    assert opened(rollback, active=3) == 2
    v3 = package(version=3)
    with pytest.raises(PolicyError, match="not newer than every version"):
        open_package(v3, site="plant-1", owner=OWNER.verify_key, package_key=KEY,
                     active_version=2, highest_version=3)  # rolled back from: no replay
    with pytest.raises(PolicyError, match="replayed"):
        opened(rollback, active=4)  # that rollback was for version 3, not for 4
    with pytest.raises(PolicyError):
        package(version=3, replaces=2)


def test_no_package_installed_once_can_be_replayed() -> None:
    # v1, v2, rollback R to v1 (replacing v2), v3, rollback to v2 (replacing v3): replaying R
    # finds the right active version (2) but an old publication sequence
    rollback_r = package(version=1, replaces=2, sequence=3)
    assert opened(rollback_r, active=2, last_sequence=2) == 1
    assert opened(package(version=2, replaces=3, sequence=5), active=3, last_sequence=4) == 2
    with pytest.raises(PolicyError, match="publication sequence 3"):
        opened(rollback_r, active=2, last_sequence=5)
    with pytest.raises(PolicyError, match="start at 1"):
        package(sequence=0)


def test_malformed_packages() -> None:
    for raw in (b"", b"{}", b"[1]", json.dumps({"format": "hedge-package-1"}).encode()):
        with pytest.raises(CorruptDataError):
            opened(raw)


def test_the_alert_policy_travels_signed_with_the_model() -> None:
    from hedge.wire.package import AlertPolicy

    raw = build_package(MODEL, site="plant-1", sequence=1, version=1, signing_key=OWNER,
                        package_key=KEY, alert=AlertPolicy(0.7, 0.1))
    manifest, _ = open_package(raw, site="plant-1", owner=OWNER.verify_key, package_key=KEY,
                               active_version=None)
    assert manifest.alert == AlertPolicy(0.7, 0.1)
    body = json.loads(raw)
    body["manifest"]["payload"]["alert"]["threshold"] = 0.99  # fewer alerts, by a stranger
    with pytest.raises(SignatureError):
        open_package(json.dumps(body).encode(), site="plant-1", owner=OWNER.verify_key,
                     package_key=KEY, active_version=None)
    plain, _ = open_package(package(), site="plant-1", owner=OWNER.verify_key,
                            package_key=KEY, active_version=1)
    assert plain.alert is None  # the edge's own setting applies


def _signed_package(manifest_changes: dict[str, object], model_body: object = None) -> bytes:
    """A package the owner signed and encrypted for plant-1, with its manifest changed and its
    model data replaced by `model_body` (unless None): what only a broken or misused owner
    would send, so that the site's own checks are what is tested."""
    import hashlib
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from hedge.wire.signing import canonical_json

    manifest = dict(json.loads(package())["manifest"]["payload"])
    del manifest["sha256"]
    manifest.update(manifest_changes)
    nonce = os.urandom(12)
    manifest["nonce"] = base64.b64encode(nonce).decode()
    body = MODEL.to_dict() if model_body is None else model_body
    plain = body if isinstance(body, bytes) else json.dumps(body).encode()
    ciphertext = AESGCM(KEY).encrypt(nonce, plain, canonical_json(manifest))
    manifest["sha256"] = hashlib.sha256(ciphertext).hexdigest()
    return json.dumps({"format": "hedge-package-1", "manifest": OWNER.sign(manifest),
                       "model": base64.b64encode(ciphertext).decode()}).encode()


def test_a_package_nested_deeper_than_json_can_parse_is_corrupt_data() -> None:
    for raw in (b"[" * 200_000 + b"]" * 200_000,
                b'{"format": "hedge-package-1", "manifest": ' + b"[" * 100_000 + b"]" * 100_000
                + b"}"):
        with pytest.raises(CorruptDataError, match="not JSON"):
            opened(raw)


@pytest.mark.parametrize("model_body", [
    b"not json", b"[" * 100_000 + b"]" * 100_000,
    {"version": 1, "kind": "logistic", "columns": ["a", "b"], "intercept": 0.25,
     "coef": ["1.5", "-2.0"], "schema": None},
    {"version": 1, "kind": "logistic", "columns": ["a", "b"], "intercept": 10**400,
     "coef": [1.5, -2.0], "schema": None},
], ids=["not_json", "nested", "coef_strings", "huge_intercept"])
def test_a_signed_package_with_a_malformed_model_is_corrupt_data(model_body: object) -> None:
    assert opened(_signed_package({})) == 2  # the control: the same, with the model intact
    with pytest.raises(CorruptDataError, match="model"):
        opened(_signed_package({}, model_body))


@pytest.mark.parametrize(("changes", "field"), [
    ({"sequence": "11"}, "sequence"),
    ({"version": 2.0}, "version"),
    ({"rollback": "false"}, "rollback"),
    ({"rollback": True, "replaces": None}, "replaces"),
    ({"site": ["plant-1"]}, "site"),
    ({"alert": {"threshold": 10**400, "hysteresis": 0.0}}, "threshold"),
    ({"alert": {"threshold": 0.5, "hysteresis": 0.6}}, "alert policy"),
    ({"alert": {"threshold": True, "hysteresis": 0.0}}, "threshold"),
    ({"alert": [0.5, 0.1]}, "alert policy"),
], ids=lambda v: repr(v)[:30])
def test_a_signed_manifest_with_malformed_fields_is_corrupt_data(
        changes: dict[str, object], field: str) -> None:
    with pytest.raises(CorruptDataError, match=field):
        opened(_signed_package(changes))
