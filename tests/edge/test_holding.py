"""A site as key holder: the edge agent pulls the co-decryption requests that wait for it and
answers them by its policy each cycle, or waits for its operator's approval; the owner
collects the answers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hedge.audit import AuditLog, verify_log
from hedge.ckks import preset
from hedge.ckks.multiparty import Flooding, HolderKeys, LocalConsortium
from hedge.cli.main import app
from hedge.cloud import CloudService
from hedge.data import Schema
from hedge.edge import EdgeAgent, EdgeConfig
from hedge.edge.holding import approve, pending_requests, read_approvals
from hedge.errors import ParameterError, SchemaError
from hedge.holder import Holder, HolderPolicy, answer_pending, co_decrypt
from hedge.wire.cloud_client import CloudClient
from hedge.wire.package import new_package_key
from hedge.wire.relay import RequestPackage
from hedge.wire.requests import CoDecryptionRequest, Coverage
from hedge.wire.shares import ciphertext_digest
from hedge.wire.signing import SigningKey
from tests.cloud.records import finished_job

HOLDERS = ("owner", "plant-1")
PASSPHRASE = "holder passphrase"


@pytest.fixture(scope="module")
def consortium() -> LocalConsortium:
    return LocalConsortium.generate(preset("fast"), HOLDERS, rotations=[])


class World:
    def __init__(self, root: Path, consortium: LocalConsortium, approval: str) -> None:
        self.root, self.consortium = root, consortium
        self.service = CloudService(root / "cloud", max_upload=64 * 2**20)
        self.owner_key = SigningKey()
        admin = self.client(self.service.admin_token)
        made = admin.create_consortium("acme", str(self.owner_key.verify_key),
                                       consortium.bundle.to_bytes())
        self.cid, token = made["id"], made["token"]
        self.owner = self.client(token)
        site = self.owner.add_site(self.cid, "plant-1")
        self.signing = {h: SigningKey() for h in HOLDERS}
        for h in HOLDERS:
            HolderKeys(h, consortium.shares[h], consortium.bundle.fingerprint, HOLDERS).save(
                root / h / "share.keystore", passphrase=PASSPHRASE)
        self.signing["plant-1"].save(root / "plant-1" / "signing.pem", passphrase=PASSPHRASE)
        enrolment = {"version": 1, "cloud": "http://testserver", "consortium": self.cid,
                     "site": "plant-1", "token": site["token"],
                     "owner_key": str(self.owner_key.verify_key),
                     "fingerprint": consortium.bundle.fingerprint,
                     "package_key": base64.b64encode(new_package_key()).decode()}
        (root / "site.json").write_text(json.dumps(enrolment))
        frame = pd.DataFrame({"temp": [300.0, 310.0], "fail": [0, 1]})
        Schema.infer(frame, label="fail").save(root / "schema.json")
        (root / "edge.toml").write_text(
            'enrolment = "site.json"\ndata_dir = "data"\nschema = "schema.json"\n'
            '[source]\nfolder = "incoming"\n[holder]\nkeystore = "plant-1/share.keystore"\n'
            'signing_key = "plant-1/signing.pem"\naudit = "plant-1/audit.jsonl"\n'
            f'approval = "{approval}"\napprovals = "plant-1/approvals.toml"\n')
        self.recipient = X25519PrivateKey.generate()
        self.log = AuditLog(root / "owner" / "audit.jsonl")
        self.owner_holder = Holder(root / "owner" / "share.keystore", PASSPHRASE,
                                   self.signing["owner"], self.owner_key.verify_key,
                                   HolderPolicy(), self.log)

    def client(self, token: str) -> CloudClient:
        return CloudClient("http://testserver", token, sleep=lambda _: None, retries=1,
                           http=TestClient(self.service.app()))

    def agent(self) -> EdgeAgent:
        config = EdgeConfig.load(self.root / "edge.toml")
        site = json.loads((self.root / "site.json").read_text())
        return EdgeAgent(config, client=self.client(site["token"]))

    def request(self, values: np.ndarray) -> tuple[dict, list]:
        """A signed request for the result of a finished training job over one upload."""
        vector = self.consortium.bundle.encrypt(values)
        cts, uploads = vector.ciphertexts, [Coverage(1, "plant-1", 50)]
        request = CoDecryptionRequest.new(
            consortium=self.consortium.bundle.fingerprint,
            job=finished_job(self.service, self.cid, vector, uploads), kind="model",
            digests=[ciphertext_digest(c) for c in cts], uploads=uploads,
            recipient="owner", recipient_key=self.recipient.public_key(),
            flooding=Flooding(released=len(values)), holders=list(HOLDERS))
        return request.sign(self.owner_key), cts


@pytest.fixture(params=["auto", "operator"])
def world(request: pytest.FixtureRequest, tmp_path: Path, consortium: LocalConsortium,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("HEDGE_HOLDER_PASSPHRASE", PASSPHRASE)
    w = World(tmp_path, consortium, request.param)
    yield w
    w.log.close()
    w.service.close()


def test_the_site_answers_what_waits_for_it(world: World) -> None:
    values = np.array([0.5, -0.25, 0.125])
    message, cts = world.request(values)
    rid = message["payload"]["request"]
    agent = world.agent()
    outcomes = []

    def holders_answer(_: float) -> None:  # while the owner waits: a cycle of each holder
        outcomes.append(agent.step().codecryptions.get(rid))
        if outcomes[-1] == "awaiting approval":  # the site's operator looks and approves
            (world.root / "plant-1" / "approvals.toml").write_text(f'{rid} = "alice"\n')
        answer_pending(world.owner, world.cid, world.owner_holder)

    try:
        got = co_decrypt(world.owner, world.cid, message, cts, world.consortium.params,
                         world.recipient, {h: k.verify_key for h, k in world.signing.items()},
                         sleep=holders_answer)[0]
    finally:
        agent.close()
    assert np.abs(got[:3] - values).max() < 0.05
    operator = agent.config.holder is not None and agent.config.holder.policy.get(
        "approval") == "operator"
    assert outcomes == (["awaiting approval", "answered"] if operator else ["answered"])
    entries = verify_log(world.root / "plant-1" / "audit.jsonl")
    assert [e.event for e in entries] == ["co-decrypt"]
    assert entries[0].details["approved_by"] == ("alice" if operator else None)


def test_a_holder_section_is_checked(tmp_path: Path, world: World,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    toml = (world.root / "edge.toml").read_text()
    for bad, message in (('min_rows = "20"\n', "whole numbers"), ('colour = 1\n', "colour"),
                         ('approval = "sometimes"\n', "approval")):
        (world.root / "bad.toml").write_text(toml.replace('approval = ', '# ', 1) + bad)
        with pytest.raises(SchemaError, match=message):
            EdgeConfig.load(world.root / "bad.toml")
    monkeypatch.delenv("HEDGE_HOLDER_PASSPHRASE")
    with pytest.raises(SchemaError, match="HEDGE_HOLDER_PASSPHRASE"):
        world.agent()


def test_the_operator_lists_what_waits_and_approves_one(world: World) -> None:
    message, cts = world.request(np.array([0.25, 0.5]))
    world.owner.post_codecryption(world.cid, RequestPackage(
        message, [bytes(c.to_string()) for c in cts]).to_bytes())
    config = EdgeConfig.load(world.root / "edge.toml")
    site = json.loads((world.root / "site.json").read_text())
    waiting = pending_requests(world.client(site["token"]), world.cid, world.owner_key.verify_key)
    rid = message["payload"]["request"]
    assert [(r.request, r.rows, r.released) for r in waiting] == [(rid, 50, 2)]
    result = CliRunner().invoke(app, ["edge", "approve", rid, "--by", "alice", "--config",
                                      str(world.root / "edge.toml")])
    assert result.exit_code == 0, result.output
    assert config.holder is not None and read_approvals(config.holder) == {rid: "alice"}
    approve(config.holder, "0" * 32, "bob")  # a second keeps the first
    assert read_approvals(config.holder) == {rid: "alice", "0" * 32: "bob"}
    with pytest.raises(ParameterError, match="32 hex digits"):
        approve(config.holder, "not-an-id", "bob")
