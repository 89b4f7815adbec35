"""A co-decryption request: signed by the owner, every field checked with its exact type; any
other bytes are refused as corrupt data, never another exception."""

from __future__ import annotations

import contextlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hedge.ckks.multiparty import Flooding
from hedge.errors import CorruptDataError, ParameterError, SignatureError
from hedge.wire.requests import CoDecryptionRequest, Coverage
from hedge.wire.signing import SigningKey

DIGEST = "ab" * 32


def fresh(**overrides: object) -> CoDecryptionRequest:
    fields: dict = {"consortium": "f" * 32, "job": "job-3", "kind": "model",
                    "digests": [DIGEST], "uploads": [Coverage(1, "plant-1", 40)],
                    "recipient": "owner", "recipient_key": X25519PrivateKey.generate()
                    .public_key(), "flooding": Flooding(released=9)}
    return CoDecryptionRequest.new(**(fields | overrides))  # type: ignore[arg-type]


def test_a_request_round_trips_under_the_owners_signature() -> None:
    owner = SigningKey()
    request = fresh()
    message = json.loads(json.dumps(request.sign(owner)))  # as it travels
    assert CoDecryptionRequest.verify(message, owner.verify_key) == request
    assert request.rows == 40 and request.released == 9 and len(request.request) == 32
    assert request.recipient_public_key().public_bytes_raw()
    assert fresh().request != request.request  # a fresh id each time
    with pytest.raises(SignatureError):
        CoDecryptionRequest.verify(message, SigningKey().verify_key)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("kind", "refresh", "'kind'"), ("digests", ["xyz"], "SHA-256"),
    ("digests", [DIGEST, DIGEST], "twice"), ("uploads", [], "'uploads'"),
    ("uploads", [{"upload": 1, "site": "a", "rows": 5}] * 2, "distinct uploads"),
    ("uploads", [{"upload": 1, "site": "a", "rows": -1}], "'rows'"),
    ("uploads", [{"upload": True, "site": "a", "rows": 1}], "'upload'"),
    ("released", 0, "'released'"), ("error_bound", float("inf"), "'error_bound'"),
    ("recipient_key", "AAAA", "X25519"), ("expires", 0.0, "'expires'"),
    ("request", "A" * 32, "hex"), ("version", 2, "'version'")])
def test_each_malformed_field_is_named(field: str, value: object, message: str) -> None:
    payload = fresh().payload() | {field: value}
    with pytest.raises(CorruptDataError, match=message):
        CoDecryptionRequest.from_payload(payload)


def test_a_request_out_of_range_is_refused_when_made() -> None:
    with pytest.raises(ParameterError, match="'kind'"):
        fresh(kind="everything")
    with pytest.raises(ParameterError, match="'expires'"):
        fresh(lifetime=30 * 24 * 3600.0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=6), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(fresh().payload())), json_values, max_size=14),
       st.booleans())
def test_any_other_payload_is_corrupt_data(fields: dict, start_valid: bool) -> None:
    payload = (fresh().payload() if start_valid else {}) | fields
    with contextlib.suppress(CorruptDataError):
        CoDecryptionRequest.from_payload(payload)
