"""The packages the cloud relays for a co-decryption: round trips, and every malformed one
refused as corrupt data naming what is wrong."""

from __future__ import annotations

import hashlib

import pytest

from hedge.ckks import container
from hedge.errors import CorruptDataError
from hedge.wire.relay import ANSWER_KIND, MAX_PACKAGE, REQUEST_KIND, Answer, RequestPackage

CT = b"ciphertext bytes"
DIGEST = hashlib.sha256(CT).hexdigest()
MESSAGE = {"payload": {"request": "0" * 32, "digests": [DIGEST]}, "signature": "c2ln"}


def test_packages_round_trip() -> None:
    package = RequestPackage(MESSAGE, [CT])
    assert RequestPackage.from_bytes(package.to_bytes()) == package
    assert package.request_id == "0" * 32
    answer = Answer("0" * 32, "plant-1", {DIGEST: b"sealed"})
    assert Answer.from_bytes(answer.to_bytes()) == answer
    refusal = Answer("0" * 32, "plant-1", {}, "too few rows")
    assert Answer.from_bytes(refusal.to_bytes()) == refusal


@pytest.mark.parametrize(("raw", "message"), [
    (RequestPackage(MESSAGE, [CT + b"!"]).to_bytes(), "not the ones its digests name"),
    (RequestPackage(MESSAGE, []).to_bytes(), "not the ones its digests name"),
    (RequestPackage({"payload": {"digests": [DIGEST]}}, [CT]).to_bytes(), "names no request"),
    (RequestPackage({"payload": 3}, [CT]).to_bytes(), "'payload'"),
    (container.to_bytes(REQUEST_KIND, {"message": MESSAGE}, [(9, CT)]), "unexpected record"),
    (container.to_bytes(ANSWER_KIND, {"message": MESSAGE}, [(1, CT)]), "kind"),
    (b"\x00" * 16, "hedge"),
])
def test_a_malformed_request_package_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        RequestPackage.from_bytes(raw)


@pytest.mark.parametrize(("header", "records", "message"), [
    ({"request": "r", "holder": "h", "digests": [DIGEST], "refused": None}, [], "one share"),
    ({"request": "r", "holder": "h", "digests": [], "refused": None}, [], "one share"),
    ({"request": "r", "holder": "h", "digests": [DIGEST], "refused": "no"}, [(2, b"s")],
     "one share"),
    ({"request": "r", "holder": "h", "digests": [DIGEST, DIGEST], "refused": None},
     [(2, b"s"), (2, b"t")], "twice"),
    ({"request": 1, "holder": "h", "digests": [], "refused": "no"}, [], "'request'"),
    ({"request": "r", "holder": "h", "digests": [], "refused": 5}, [], "'refused'"),
])
def test_a_malformed_answer_is_refused(header: dict, records: list, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        Answer.from_bytes(container.to_bytes(ANSWER_KIND, header, records))


def test_oversized_or_foreign_bytes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_PACKAGE > 64 * 2 * 20 * 32768 * 8  # 64 shares of the deep preset's top level
    monkeypatch.setattr("hedge.wire.relay.MAX_PACKAGE", 100)
    with pytest.raises(CorruptDataError, match="at most 100"):
        Answer.from_bytes(b"\x00" * 101)
    with pytest.raises(CorruptDataError, match="at most"):
        RequestPackage.from_bytes("text")  # type: ignore[arg-type]
