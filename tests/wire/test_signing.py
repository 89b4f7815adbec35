"""Signed messages: what verifies, and everything that must not."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from hedge.errors import CorruptDataError, SignatureError, WrongPassphraseError
from hedge.wire.signing import SigningKey, VerifyKey, canonical_json


def test_a_signed_payload_verifies_and_round_trips_its_key() -> None:
    key = SigningKey()
    message = key.sign({"round": 3, "centroids": [[0.1, -0.25]], "scale": 32.0})
    assert key.verify_key.verify(message) == {"round": 3, "centroids": [[0.1, -0.25]],
                                              "scale": 32.0}
    again = VerifyKey.from_str(str(key.verify_key))
    assert again == key.verify_key and again.verify(message)["round"] == 3


def test_canonical_form_ignores_key_order_and_refuses_nan() -> None:
    assert canonical_json({"b": 1, "a": [1.5]}) == canonical_json({"a": [1.5], "b": 1})
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


@pytest.mark.parametrize("change", ["payload", "signature", "missing", "garbage"])
def test_modified_messages_are_refused(change: str) -> None:
    key = SigningKey()
    message = key.sign({"round": 1, "values": [1.0, 2.0]})
    bad = copy.deepcopy(message)
    if change == "payload":
        bad["payload"]["values"][1] = 2.000001
    elif change == "signature":
        bad["signature"] = SigningKey().sign({"round": 1, "values": [1.0, 2.0]})["signature"]
    elif change == "missing":
        del bad["signature"]
    else:
        bad["signature"] = "%%%"
    with pytest.raises(SignatureError):
        key.verify_key.verify(bad)


def test_another_signer_is_refused_and_bad_keys_are_clear_errors() -> None:
    message = SigningKey().sign({"a": 1})
    with pytest.raises(SignatureError, match="another key"):
        SigningKey().verify_key.verify(message)
    with pytest.raises(CorruptDataError):
        VerifyKey(b"short")
    with pytest.raises(CorruptDataError):
        VerifyKey.from_str("not base64!")


def test_the_signing_key_is_stored_encrypted(tmp_path: Path) -> None:
    key = SigningKey()
    key.save(tmp_path / "signing.pem", passphrase="long enough passphrase")
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "signing.pem").read_bytes()
    assert oct((tmp_path / "signing.pem").stat().st_mode & 0o777) == "0o600"
    again = SigningKey.load(tmp_path / "signing.pem", passphrase="long enough passphrase")
    assert again.verify_key == key.verify_key
    with pytest.raises(WrongPassphraseError):
        SigningKey.load(tmp_path / "signing.pem", passphrase="wrong")
    with pytest.raises(CorruptDataError):
        SigningKey.load(tmp_path / "missing.pem", passphrase="x")


def test_messages_that_cannot_be_put_in_canonical_form_are_signature_errors() -> None:
    key = SigningKey()
    signature = key.sign({"a": 1})["signature"]
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    for message in ({"payload": deep, "signature": signature},
                    {"payload": {"x": float("nan")}, "signature": signature},
                    {"payload": {"x": b"bytes"}, "signature": signature},
                    {"payload": 1, "signature": 12345}, ["payload", "signature"], None):
        with pytest.raises(SignatureError, match="not a signed message"):
            key.verify_key.verify(message)


@pytest.mark.parametrize("text", [12345, None, b"AAAA", ["AAAA"]])
def test_a_verification_key_that_is_not_text_is_corrupt_data(text: object) -> None:
    with pytest.raises(CorruptDataError, match="base64 text"):
        VerifyKey.from_str(text)  # type: ignore[arg-type]
