"""A consortium of three holders (the owner and two plants) on the fast preset, each with its
keystore, signing key, audit log and policy, and the owner's request signing key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient

from hedge.audit import AuditLog
from hedge.ckks import EncryptedVector, preset
from hedge.ckks.multiparty import Flooding, HolderKeys, LocalConsortium
from hedge.cloud import CloudService
from hedge.holder import Holder, HolderPolicy, answer_pending
from hedge.wire.cloud_client import CloudClient
from hedge.wire.requests import CoDecryptionRequest, Coverage
from hedge.wire.shares import ciphertext_digest
from hedge.wire.signing import SigningKey, VerifyKey
from tests.cloud.records import JOB_OF_KIND, finished_job

FAST = preset("fast")
NAMES = ("owner", "plant-1", "plant-2")
SITES = {"owner": None, "plant-1": "plant-1", "plant-2": "plant-2"}
#: uploads 1-2 of plant-1 (400 and 5 rows), 3 of plant-2 (300 rows)
UPLOADS = [Coverage(1, "plant-1", 400), Coverage(2, "plant-1", 5), Coverage(3, "plant-2", 300)]


@pytest.fixture(scope="session")
def consortium() -> LocalConsortium:
    return LocalConsortium.generate(FAST, NAMES, rotations=[])


@dataclass
class Setting:
    consortium: LocalConsortium
    holders: dict[str, Holder]
    verify: dict[str, VerifyKey]
    owner_key: SigningKey
    recipient: X25519PrivateKey
    root: Path
    logs: list[AuditLog] = field(default_factory=list)

    def request(self, vector: EncryptedVector, uploads: list[Coverage] = UPLOADS, *,
                kind: str = "model", **fields: object) -> tuple[dict, list[bytes]]:
        """A signed request for `vector`, to be masked to its values (by every holder), and
        its ciphertexts' bytes."""
        cts = vector.ciphertexts
        flooding = Flooding(released=min(vector.length, FAST.slot_count))
        request = CoDecryptionRequest.new(
            consortium=self.consortium.bundle.fingerprint, job="job-1", kind=kind,
            digests=[ciphertext_digest(c) for c in cts], uploads=uploads, recipient="owner",
            recipient_key=self.recipient.public_key(), flooding=flooding)
        payload = request.payload() | fields
        return self.owner_key.sign(payload), [bytes(c.to_string()) for c in cts]


def make_holder(root: Path, consortium: LocalConsortium, name: str, owner: VerifyKey,
                policy: HolderPolicy, logs: list[AuditLog],
                keys: HolderKeys | None = None) -> tuple[Holder, SigningKey]:
    """A holder in `root / name` (default keys: its n-of-n share, a budget of 6)."""
    keystore = root / name / "share.keystore"
    keystore.parent.mkdir(parents=True)
    keys = keys or HolderKeys(name, consortium.shares[name], consortium.bundle.fingerprint,
                              NAMES, max_decryptions=6)
    keys.save(keystore, passphrase=f"pass-{name}")
    log = AuditLog(root / name / "audit.jsonl")
    logs.append(log)
    signing = SigningKey()
    return Holder(keystore, f"pass-{name}", signing, owner, policy, log), signing


@pytest.fixture
def setting(consortium: LocalConsortium, tmp_path: Path) -> Iterator[Setting]:
    owner_key, logs = SigningKey(), []
    holders, verify = {}, {}
    for name in NAMES:
        holder, signing = make_holder(tmp_path, consortium, name, owner_key.verify_key,
                                      HolderPolicy(site=SITES[name]), logs)
        holders[name], verify[name] = holder, signing.verify_key
    s = Setting(consortium, holders, verify, owner_key, X25519PrivateKey.generate(), tmp_path,
                logs)
    yield s
    for log in s.logs:
        log.close()


def weights(consortium: LocalConsortium) -> tuple[EncryptedVector, np.ndarray]:
    x = np.random.default_rng(0).uniform(-1, 1, 9)
    return consortium.bundle.encrypt(x), x


class Relay:
    """A cloud with the consortium's collective bundle, the plants enrolled, and a client per
    holder (the owner's answers as holder 'owner')."""

    def __init__(self, setting: Setting, service: CloudService) -> None:
        self.setting, self.service, self.app = setting, service, service.app()
        admin = self.client(service.admin_token)
        made = admin.create_consortium("acme", str(setting.owner_key.verify_key),
                                       setting.consortium.bundle.to_bytes())
        self.cid, owner = made["id"], made["token"]
        self.clients = {"owner": self.client(owner)}
        for name in NAMES[1:]:
            self.clients[name] = self.client(self.clients["owner"].add_site(self.cid,
                                                                           name)["token"])

    def client(self, token: str) -> CloudClient:
        return CloudClient("http://testserver", token, sleep=lambda _: None,
                           http=TestClient(self.app))

    def answer_all(self, *_: object) -> None:
        for name, holder in self.setting.holders.items():
            answer_pending(self.clients[name], self.cid, holder)

    def request(self, vector: EncryptedVector, uploads: list[Coverage] = UPLOADS, *,
                kind: str = "model", **fields: object) -> tuple[dict, list[bytes]]:
        """`Setting.request` for the result of a finished job over `uploads` that holds
        `vector`, as the cloud checks a request (`hedge.cloud.result_binding`)."""
        job = finished_job(self.service, self.cid, vector, uploads, JOB_OF_KIND[kind])
        return self.setting.request(vector, uploads, kind=kind, **{"job": job, **fields})


@pytest.fixture
def relay(setting: Setting, tmp_path: Path, db_url: str | None) -> Iterator[Relay]:
    """A real cloud service (SQLite, and PostgreSQL where it runs) relaying for the holders."""
    service = CloudService(tmp_path / "cloud", db_url, max_upload=64 * 2**20)
    yield Relay(setting, service)
    service.close()
