"""Co-decryption through a real cloud service (SQLite, and PostgreSQL where it runs): the
holders pull what waits for them and answer by their policy, the owner collects and combines;
the cloud refuses what it can check, and a refusal or a silent holder is named."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from hedge.cloud.db import CoDecryptionAnswer
from hedge.errors import CorruptDataError, KeyMismatchError, PolicyError
from hedge.holder import HolderPolicy, answer_pending, co_decrypt
from hedge.wire.relay import Answer, RequestPackage
from hedge.wire.requests import Coverage
from hedge.wire.signing import SigningKey
from tests.holder.conftest import FAST, NAMES, Relay, Setting, make_holder, weights


def ciphertexts(relay: Relay, raw: list[bytes]) -> list:
    context = relay.setting.consortium.bundle.engine.context
    return [context.from_cipher_str(r) for r in raw]


def test_holders_answer_through_the_cloud_and_the_owner_combines(relay: Relay) -> None:
    s = relay.setting
    vector, x = weights(s.consortium)
    message, raw = relay.request(vector, holders=list(NAMES))
    got = co_decrypt(relay.clients["owner"], relay.cid, message, ciphertexts(relay, raw), FAST,
                     s.recipient, s.verify, sleep=relay.answer_all)[0]
    assert np.abs(got[:9] - x).max() < 0.05
    state = relay.clients["owner"].codecryption(relay.cid, message["payload"]["request"])
    assert state["answered"] == sorted(NAMES) and state["missing"] == []
    assert all(relay.clients[n].pending_codecryptions(relay.cid) == [] for n in NAMES)
    # the same package again is the same request; its answers are final
    again = RequestPackage(message, raw).to_bytes()
    assert relay.clients["owner"].post_codecryption(relay.cid, again)["holders"] == list(NAMES)


def test_a_refusal_and_a_silent_holder_are_named(relay: Relay) -> None:
    s = relay.setting
    vector, _ = weights(s.consortium)
    few = [Coverage(1, "plant-1", 400), Coverage(4, "plant-2", 7)]  # 7 rows of plant-2
    message, raw = relay.request(vector, few, holders=list(NAMES))
    refusal = r"refused by .*plant-2 \(holder plant-2 refuses .*7 rows of plant-2"
    with pytest.raises(PolicyError, match=refusal):
        co_decrypt(relay.clients["owner"], relay.cid, message, ciphertexts(relay, raw), FAST,
                   s.recipient, s.verify, sleep=relay.answer_all)
    message, raw = relay.request(vector, holders=list(NAMES))
    ticks = iter(range(100))
    with pytest.raises(PolicyError, match="not answered yet: owner, plant-1, plant-2"):
        co_decrypt(relay.clients["owner"], relay.cid, message, ciphertexts(relay, raw), FAST,
                   s.recipient, s.verify, timeout=3, sleep=lambda _: None,
                   clock=lambda: float(next(ticks)))
    # the request stays posted: the holders answer later, and the owner can collect
    relay.answer_all()
    rid = message["payload"]["request"]
    assert relay.clients["owner"].codecryption(relay.cid, rid)["missing"] == []


def test_the_cloud_refuses_what_it_can_check(relay: Relay) -> None:
    s = relay.setting
    owner, plant = relay.clients["owner"], relay.clients["plant-1"]
    vector, _ = weights(s.consortium)
    message, raw = relay.request(vector, holders=list(NAMES))
    forged = RequestPackage(SigningKey().sign(message["payload"]), raw).to_bytes()
    with pytest.raises(CorruptDataError, match="signature does not verify"):
        owner.post_codecryption(relay.cid, forged)
    stranger, raw2 = relay.request(vector, holders=["owner", "plant-9"])
    with pytest.raises(PolicyError, match="plant-9"):
        owner.post_codecryption(relay.cid, RequestPackage(stranger, raw2).to_bytes())
    other, raw3 = relay.request(vector, holders=list(NAMES), consortium="ab" * 16)
    with pytest.raises(KeyMismatchError, match="not this consortium"):
        owner.post_codecryption(relay.cid, RequestPackage(other, raw3).to_bytes())
    with pytest.raises(CorruptDataError, match="not the ones its digests name"):
        owner.post_codecryption(relay.cid, RequestPackage(message, [raw[0][:-8]]).to_bytes())
    with pytest.raises(PolicyError, match="owner token"):
        plant.post_codecryption(relay.cid, RequestPackage(message, raw).to_bytes())
    # what it asks for must be a finished job's result, over that job's uploads
    job = message["payload"]["job"]
    for fields, why in (({"job": "999"}, "does not have"), ({"kind": "evaluation"}, "computed"),
                        ({"uploads": [Coverage(1, "plant-1", 4000)]},
                         "other uploads")):
        lied, raw5 = s.request(vector, holders=list(NAMES), **{"job": job, **fields})
        with pytest.raises(PolicyError, match=why):
            owner.post_codecryption(relay.cid, RequestPackage(lied, raw5).to_bytes())
    other_vector, _ = weights(s.consortium)
    foreign, raw6 = s.request(other_vector, holders=list(NAMES), job=job)
    with pytest.raises(PolicyError, match=r"not job .* result"):
        owner.post_codecryption(relay.cid, RequestPackage(foreign, raw6).to_bytes())
    # posted: only the holders it names see it, each answers for itself, with its shares
    pair, raw4 = relay.request(vector, holders=["owner", "plant-2"])
    rid = owner.post_codecryption(relay.cid, RequestPackage(pair, raw4).to_bytes())["request"]
    assert plant.pending_codecryptions(relay.cid) == []
    with pytest.raises(PolicyError, match="does not name plant-1"):
        plant.codecryption_package(relay.cid, rid)
    wrong = Answer(rid, "plant-2", {}, "no").to_bytes()
    with pytest.raises(PolicyError, match="only plant-2 answers"):
        plant.answer_codecryption(relay.cid, rid, "plant-2", wrong)
    mismatched = Answer(rid, "plant-2", {"00" * 32: b"x"}).to_bytes()
    with pytest.raises(CorruptDataError, match="not plant-2's"):
        relay.clients["plant-2"].answer_codecryption(relay.cid, rid, "plant-2", mismatched)
    relay.clients["plant-2"].answer_codecryption(relay.cid, rid, "plant-2", wrong)
    with pytest.raises(PolicyError, match="an answer is final"):
        relay.clients["plant-2"].answer_codecryption(relay.cid, rid, "plant-2", Answer(
            rid, "plant-2", {}, "changed my mind").to_bytes())
    assert owner.codecryption(relay.cid, rid)["refused"] == {"plant-2": "no"}
    with pytest.raises(PolicyError, match="stands for the owner"):  # no site poses as it
        owner.add_site(relay.cid, "owner")


def test_an_approval_names_the_request_it_approves(relay: Relay, setting: Setting) -> None:
    logs: list = []
    careful, _ = make_holder(setting.root / "careful", setting.consortium, "plant-1",
                             setting.owner_key.verify_key,
                             HolderPolicy(site="plant-1", approval="operator"), logs)
    vector, _ = weights(setting.consortium)
    owner, plant = relay.clients["owner"], relay.clients["plant-1"]
    seen, raw = relay.request(vector, holders=list(NAMES))
    unseen, raw2 = relay.request(vector, holders=list(NAMES))
    for message, cts in ((seen, raw), (unseen, raw2)):
        owner.post_codecryption(relay.cid, RequestPackage(message, cts).to_bytes())
    first, second = seen["payload"]["request"], unseen["payload"]["request"]
    outcomes = answer_pending(plant, relay.cid, careful, approved={first: "alice"})
    assert outcomes == {first: "answered", second: "awaiting approval"}
    assert plant.pending_codecryptions(relay.cid) == [second]
    # the record of answered requests the holders share
    assert [m["payload"]["request"] for m in plant.answered_codecryptions(relay.cid)] == [first]
    expired, raw3 = relay.request(vector, holders=list(NAMES), expires=1.0, issued=0.5)
    with pytest.raises(PolicyError, match="expired"):
        owner.post_codecryption(relay.cid, RequestPackage(expired, raw3).to_bytes())
    for log in logs:
        log.close()


def test_two_identical_answers_at_once_are_one_answer_and_one_409(relay: Relay) -> None:
    """A client's retry racing its first try: both reach the database together (held at a
    barrier as each builds its row); one is kept, the other is told to answer again."""
    vector, _ = weights(relay.setting.consortium)
    message, raw = relay.request(vector, holders=list(NAMES))
    rid = relay.clients["owner"].post_codecryption(
        relay.cid, RequestPackage(message, raw).to_bytes())["request"]
    body = Answer(rid, "plant-1", {}, "no").to_bytes()
    token = relay.clients["plant-1"]._http.headers["Authorization"]
    barrier = threading.Barrier(2)

    def hold(*_: object, **__: object) -> None:
        barrier.wait(timeout=10)

    statuses: list[int] = []

    def put() -> None:
        http = TestClient(relay.app, raise_server_exceptions=False)
        statuses.append(http.put(f"/v1/consortia/{relay.cid}/codecryptions/{rid}/answers/"
                                 "plant-1", content=body,
                                 headers={"Authorization": token}).status_code)

    event.listen(CoDecryptionAnswer, "init", hold)
    try:
        threads = [threading.Thread(target=put) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        event.remove(CoDecryptionAnswer, "init", hold)
    assert sorted(statuses) == [201, 409]
    assert relay.clients["owner"].codecryption(relay.cid, rid)["refused"] == {"plant-1": "no"}
