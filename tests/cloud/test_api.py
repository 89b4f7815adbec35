"""The cloud API: consortia, sites, scoped tokens, idempotent streaming uploads, refusals that
name their hedge error."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.routing import Route

from hedge.ckks import KeySet, PublicBundle
from hedge.ckks.hazmat import decrypt_exact
from hedge.cloud import CloudService
from hedge.cloud.app import create_app
from hedge.cloud.db import Base, Site, Token
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
)
from hedge.ml import EncryptedDataset
from hedge.wire.cloud_client import CloudClient
from hedge.wire.protocol import refusal_class
from hedge.wire.signing import SigningKey
from tests.breach import (
    Needle,
    Place,
    Region,
    Scanner,
    file_regions,
    float_needles,
    merged,
    report,
    row_regions,
    secret_needles,
    text_needles,
    windows,
)

COLUMNS = ["a", "b", "c"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dataset(keys: KeySet, rows: int = 40, seed: int = 0) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (rows, 3)).round(6)
    y = (x[:, 0] > 0).astype(float)
    return EncryptedDataset.encrypt(keys.public(), x, y, COLUMNS).to_bytes(), x


def consortium(client: TestClient, service: CloudService, keys: KeySet,
               name: str = "acme") -> tuple[int, str]:
    r = client.post("/v1/consortia", params={"name": name,
                                             "owner_key": str(SigningKey().verify_key)},
                    content=keys.public().to_bytes(), headers=bearer(service.admin_token))
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def site(client: TestClient, cid: int, owner: str, name: str) -> str:
    r = client.post(f"/v1/consortia/{cid}/sites", json={"name": name}, headers=bearer(owner))
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def test_enrol_upload_and_retry(client: TestClient, service: CloudService,
                                owner_keys: KeySet) -> None:
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "plant-1")
    body, _ = dataset(owner_keys)
    first = client.put(f"/v1/consortia/{cid}/uploads/batch-0001", content=body,
                       headers=bearer(token))
    assert first.status_code == 201, first.text
    info = first.json()
    assert info["rows"] == 40 and info["size"] == len(body) and not info["replay"]
    again = client.put(f"/v1/consortia/{cid}/uploads/batch-0001", content=body,
                       headers=bearer(token))
    assert again.status_code == 200 and again.json()["replay"]
    assert again.json()["id"] == info["id"]
    other_key = client.put(f"/v1/consortia/{cid}/uploads/batch-0002", content=body,
                           headers=bearer(token))
    assert other_key.status_code == 200 and other_key.json()["id"] == info["id"]
    listed = client.get(f"/v1/consortia/{cid}/uploads", headers=bearer(owner)).json()
    assert [u["rows"] for u in listed] == [40]  # the retries did not count twice
    bundle = client.get(f"/v1/consortia/{cid}/bundle", headers=bearer(token))
    assert bundle.content == owner_keys.public().to_bytes()
    assert bundle.headers["X-Hedge-Fingerprint"] == owner_keys.fingerprint
    small = client.get(f"/v1/consortia/{cid}/bundle", params={"purpose": "encrypt"},
                       headers=bearer(token)).content
    edge_bundle = PublicBundle.from_bytes(small, expected_fingerprint=owner_keys.fingerprint)
    assert len(small) < len(bundle.content) and edge_bundle.rotation_steps == ()
    assert np.allclose(decrypt_exact(owner_keys, edge_bundle.encrypt(np.ones(3))), 1.0, atol=1e-6)
    assert service.blobs.read(info["blob"]) == body


def test_tokens_are_scoped(client: TestClient, service: CloudService, owner_keys: KeySet,
                           stranger_keys: KeySet) -> None:
    cid, owner = consortium(client, service, owner_keys, "acme")
    other_cid, other_owner = consortium(client, service, stranger_keys, "globex")
    token = site(client, cid, owner, "plant-1")
    other_site = site(client, other_cid, other_owner, "plant-9")
    body, _ = dataset(owner_keys)
    assert client.post("/v1/consortia", params={"name": "x", "owner_key": "A" * 44},
                       headers=bearer(owner)).status_code == 403
    assert client.get(f"/v1/consortia/{cid}/bundle").status_code == 401
    assert client.get(f"/v1/consortia/{cid}/bundle",
                      headers=bearer("hedge_guess")).status_code == 401
    # another consortium's tokens see nothing of this one
    assert client.get(f"/v1/consortia/{cid}/bundle",
                      headers=bearer(other_site)).status_code == 404
    assert client.get(f"/v1/consortia/{cid}/uploads",
                      headers=bearer(other_owner)).status_code == 404
    assert client.put(f"/v1/consortia/{cid}/uploads/k1", content=body,
                      headers=bearer(other_site)).status_code == 404
    # roles within the consortium
    assert client.get(f"/v1/consortia/{cid}/uploads", headers=bearer(token)).status_code == 403
    assert client.post(f"/v1/consortia/{cid}/sites", json={"name": "p2"},
                       headers=bearer(token)).status_code == 403
    assert client.put(f"/v1/consortia/{cid}/uploads/k1", content=body,
                      headers=bearer(owner)).status_code == 403
    assert client.post(f"/v1/consortia/{cid}/sites", json={"name": "plant-1"},
                       headers=bearer(owner)).status_code == 409
    # JSON bodies are capped before any token is even looked at
    big = client.post(f"/v1/consortia/{cid}/sites", content=b"{" + b" " * 70_000 + b"}",
                      headers={"Content-Type": "application/json"})
    assert (big.status_code, big.json()["error"]) == (413, "TooLargeError")


def test_a_revoked_site_is_locked_out(client: TestClient, service: CloudService,
                                     owner_keys: KeySet) -> None:
    cid, owner = consortium(client, service, owner_keys)
    one, two = site(client, cid, owner, "plant-1"), site(client, cid, owner, "plant-2")
    body, _ = dataset(owner_keys)
    assert client.put(f"/v1/consortia/{cid}/uploads/k1", content=body,
                      headers=bearer(one)).status_code == 201
    url = f"/v1/consortia/{cid}/sites/plant-1/tokens"
    assert client.delete(url, headers=bearer(one)).status_code == 403  # not the site itself
    assert client.delete(url, headers=bearer(owner)).json() == {"revoked": 1}
    assert client.delete(url, headers=bearer(owner)).json() == {"revoked": 0}  # idempotent
    assert client.delete(f"/v1/consortia/{cid}/sites/nope/tokens",
                         headers=bearer(owner)).status_code == 404
    assert client.put(f"/v1/consortia/{cid}/uploads/k2", content=body,
                      headers=bearer(one)).status_code == 401
    assert client.get(f"/v1/consortia/{cid}/bundle", headers=bearer(one)).status_code == 401
    assert client.get(f"/v1/consortia/{cid}/bundle", headers=bearer(two)).status_code == 200
    listed = client.get(f"/v1/consortia/{cid}/uploads", headers=bearer(owner)).json()
    assert [u["site"] for u in listed] == ["plant-1"]  # what it uploaded stays


def test_bad_uploads_are_refused_and_leave_nothing(client: TestClient, service: CloudService,
                                                   owner_keys: KeySet, stranger_keys: KeySet,
                                                   tmp_path: Path) -> None:
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "plant-1")
    owner_keys.save(tmp_path / "keys.hks", passphrase="a passphrase for the test")
    keystore = (tmp_path / "keys.hks").read_bytes()
    body, _ = dataset(owner_keys)
    foreign, _ = dataset(stranger_keys)
    cases = {
        "keystore": (keystore, 422, "secret key"),
        "foreign": (foreign, 409, "another key set"),
        "truncated": (body[:-100], 400, "truncated"),
        "junk": (b"\x00" * 5000, 400, "not hedge data"),
        "bundle": (owner_keys.public().to_bytes(), 400, "expected an encrypted dataset"),
        "huge": (b"\x00" * (9 * 2**20), 413, "exceeds the limit"),
    }
    for key, (content, code, message) in cases.items():
        r = client.put(f"/v1/consortia/{cid}/uploads/{key}", content=content,
                       headers=bearer(token))
        assert r.status_code == code and message in r.json()["detail"], (key, r.text)
    assert client.get(f"/v1/consortia/{cid}/uploads", headers=bearer(owner)).json() == []
    stored = [p for p in (service.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(stored) == 2  # only the bundle (in full and for encryption); no temporary file
    assert client.put(f"/v1/consortia/{cid}/uploads/bad key!", content=body,
                      headers=bearer(token)).status_code in (400, 404)


def test_a_consortium_is_not_created_from_a_keystore_or_junk(
        client: TestClient, service: CloudService, owner_keys: KeySet, tmp_path: Path) -> None:
    owner_keys.save(tmp_path / "keys.hks", passphrase="a passphrase for the test")
    cases = {"keystore": ((tmp_path / "keys.hks").read_bytes(), 422, "secret key"),
             "junk": (b"\x00" * 5000, 400, "not hedge data"),
             "truncated": (owner_keys.public().to_bytes()[:-100], 400, "truncated")}
    for name, (content, code, message) in cases.items():
        r = client.post("/v1/consortia", params={"name": name,
                                                 "owner_key": str(SigningKey().verify_key)},
                        content=content, headers=bearer(service.admin_token))
        assert r.status_code == code and message in r.json()["detail"], (name, r.text)
    assert not [p for p in (service.data_dir / "blobs").rglob("*") if p.is_file()]


def test_state_survives_a_restart(tmp_path: Path, db_url: str | None,
                                  owner_keys: KeySet) -> None:
    first = CloudService(tmp_path / "cloud", db_url)
    client = TestClient(first.app())
    cid, owner = consortium(client, first, owner_keys)
    token = site(client, cid, owner, "plant-1")
    body, _ = dataset(owner_keys)
    client.put(f"/v1/consortia/{cid}/uploads/b1", content=body, headers=bearer(token))
    admin = first.admin_token
    first.close()
    second = CloudService(tmp_path / "cloud", db_url)
    client = TestClient(second.app())
    assert second.admin_token == admin
    again = client.put(f"/v1/consortia/{cid}/uploads/b1", content=body, headers=bearer(token))
    assert again.status_code == 200 and again.json()["replay"]
    second.close()


def _dump(service: CloudService) -> Iterator[Region]:
    """Everything the cloud wrote: each file in its data directory (SQLite's as binary,
    containers parsed, the rest as text) and every row of every table (PostgreSQL keeps them
    elsewhere)."""
    for path in sorted(p for p in service.data_dir.rglob("*") if p.is_file()):
        place: Place = "binary" if path.name.startswith("cloud.db") else "text"
        yield from file_regions(path, str(path.relative_to(service.data_dir)), place)
    with service.db.session() as s:
        for table in Base.metadata.sorted_tables:
            result = s.execute(select(table))
            yield from row_regions(table.name, list(result.keys()), result.all())


@pytest.fixture
def assisted(tmp_path: Path, db_url: str | None) -> Iterator[CloudService]:
    """A cloud that lets jobs name a key service (assisted training), over any number of rows."""
    svc = CloudService(tmp_path / "cloud", db_url, min_job_rows=0,
                       key_services=("https://keys.example/",))
    yield svc
    svc.close()


def _plant(service: CloudService, blob: str, values: list[Needle], window: Needle,
           token: Needle) -> list[tuple[Needle, str]]:
    """A float64 and a key window in an upload's ciphertext, a value's text in a row, a token
    and a float32 in a log; returns (needle, where) of each."""

    def pick(kind: str, place: Place) -> Needle:
        return next(n for n in values if n.kind == kind and n.searched_in(place)
                    and "big-endian" not in n.what)

    value64, value32, text = pick("float64", "payload"), pick("float32", "text"), pick(
        "text", "text")
    path = service.blobs.path(blob)
    payload = next(r for r in file_regions(path, "upload") if r.place == "payload")
    data = bytearray(path.read_bytes())
    at = payload.start + len(payload.data) // 2
    data[at:at + 8], data[at + 64:at + 96] = value64.raw, window.raw
    path.write_bytes(data)
    with service.db.session() as s:
        s.execute(update(Site).values(name=f"plant {text.raw.decode()}"))
        s.commit()
    (service.data_dir / "service.log").write_bytes(token.raw + b" " + value32.raw)
    return [(value64, "blobs/"), (window, "blobs/"), (text, "table site, column name"),
            (token, "service.log"), (value32, "service.log")]


@pytest.mark.parametrize("planted", [False, True], ids=["as-written", "planted"])
def test_breach_drill_finds_no_plaintext(assisted: CloudService, owner_keys: KeySet,
                                         planted: bool) -> None:
    """After an enrolment, an upload and a queued assisted training, the cloud's files and rows
    hold no value of the upload (float64, float32, text), no token in clear (the owner's, the
    site's, the key service's) and no bytes of the secret key; planted, each kind is found."""
    service, client = assisted, TestClient(assisted.app())
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "plant-1")
    body, x = dataset(owner_keys, rows=60, seed=3)
    put = client.put(f"/v1/consortia/{cid}/uploads/b1", content=body, headers=bearer(token))
    assert put.status_code == 201
    refresh = secrets.token_urlsafe(32)
    job = client.post(f"/v1/consortia/{cid}/jobs", headers=bearer(owner), json={
        "model": "logistic", "iterations": 1,
        "key_service": {"url": "https://keys.example/ks", "job": "j1", "token": refresh}})
    assert job.status_code == 201, job.text
    values: list[Needle] = []
    for i, value in enumerate(x.reshape(-1).tolist()):
        values += float_needles(value, f"value {i} = {value!r}")
        values += text_needles(value, f"value {i}")
    site_token = secret_needles(token, "the site token")
    keys = [*secret_needles(owner, "the owner token"), *site_token,
            *secret_needles(refresh, "the key service's refresh token")]
    secret, p = owner_keys.export_secret_key_unsafe(), owner_keys.params
    coefficients = p.poly_modulus_degree * (len(p.data_bits) + 1) * 8  # after the SEAL header
    keys += windows(secret, "the CKKS secret key", start=len(secret) - coefficients)
    scanner = Scanner(merged([*values, *keys]))
    with service.db.session() as s:  # the tokens the cloud knows: as SHA-256 digests
        digests = set(s.scalars(select(Token.digest)).all())
    assert {hashlib.sha256(t.encode()).hexdigest() for t in (owner, token)} <= digests
    expected = (_plant(service, put.json()["blob"], values, keys[-1], site_token[0])
                if planted else [])
    hits = scanner.scan(_dump(service))
    for needle, where in expected:
        assert any(h.needle == needle and where in h.where for h in hits), (needle, report(hits))
    assert planted or not hits, report(hits)


def test_deployments_are_relayed_to_their_site_only(client: TestClient, service: CloudService,
                                                    owner_keys: KeySet, tmp_path: Path) -> None:
    cid, owner = consortium(client, service, owner_keys)
    one, two = site(client, cid, owner, "plant-1"), site(client, cid, owner, "plant-2")
    url = f"/v1/consortia/{cid}/deployments/latest"
    assert client.get(url, headers=bearer(one)).status_code == 404  # nothing yet
    package = b'{"format": "hedge-package-1", "opaque": true}'
    put = f"/v1/consortia/{cid}/sites/plant-1/deployments/1"
    assert client.put(put, content=package, headers=bearer(one)).status_code == 403
    assert client.put(put, content=package, headers=bearer(owner)).status_code == 201
    assert client.put(put, content=package, headers=bearer(owner)).status_code == 200  # retry
    blobs_before = sorted(service.blobs.root.rglob("*"))
    assert client.put(put, content=b"another", headers=bearer(owner)).status_code == 409
    assert client.put(f"/v1/consortia/{cid}/sites/nobody/deployments/1", content=b"orphan",
                      headers=bearer(owner)).status_code == 404
    owner_keys.save(tmp_path / "keys.hks", passphrase="a passphrase for the test")
    assert client.put(f"/v1/consortia/{cid}/sites/plant-1/deployments/9",
                      content=(tmp_path / "keys.hks").read_bytes(),
                      headers=bearer(owner)).status_code == 422
    assert sorted(service.blobs.root.rglob("*")) == blobs_before  # refusals leave nothing
    newer = b'{"format": "hedge-package-1", "v": 2}'
    client.put(f"/v1/consortia/{cid}/sites/plant-1/deployments/2", content=newer,
               headers=bearer(owner))
    got = client.get(url, headers=bearer(one))
    assert got.content == newer and got.headers["X-Hedge-Sequence"] == "2"
    assert client.get(url, headers=bearer(two)).status_code == 404  # plant-2 sees only its own
    assert client.get(url, headers=bearer(owner)).status_code == 403


def test_every_refusal_names_its_error_and_the_client_raises_it(
        service: CloudService, owner_keys: KeySet, stranger_keys: KeySet) -> None:
    """Each kind of refusal of each route module: the body names the hedge error, and
    `CloudClient` raises exactly that class with the status and detail."""
    app = service.app()
    raw = TestClient(app)
    cid, owner = consortium(raw, service, owner_keys)
    plant, plant_2 = site(raw, cid, owner, "plant-1"), site(raw, cid, owner, "plant-2")
    _, stranger = consortium(raw, service, stranger_keys, "globex")
    body, _ = dataset(owner_keys)
    foreign, _ = dataset(stranger_keys)
    assert raw.put(f"/v1/consortia/{cid}/uploads/b1", content=body,
                   headers=bearer(plant)).status_code == 201
    queued = raw.post(f"/v1/consortia/{cid}/jobs", json={"model": "ridge", "iterations": 1},
                      headers=bearer(owner)).json()["id"]
    package = b'{"format": "hedge-package-1"}'
    assert raw.put(f"/v1/consortia/{cid}/sites/plant-1/deployments/1", content=package,
                   headers=bearer(owner)).status_code == 201
    answers: list[httpx.Response] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        answers.append(response)

    def as_(token: str, on: FastAPI = app) -> CloudClient:
        http = TestClient(on)
        http.event_hooks["response"].append(keep)
        return CloudClient("http://testserver", token, sleep=lambda _: None, http=http)

    admin, own, edge, other = (as_(t) for t in (service.admin_token, owner, plant, stranger))
    nobody, floor = as_("hedge_guess"), as_(owner, create_app(service.db, service.blobs,
                                                               min_job_rows=1000))
    bundle, key = owner_keys.public().to_bytes(), str(SigningKey().verify_key)
    ridge = {"model": "ridge", "iterations": 1}
    assisted = {"model": "logistic", "iterations": 1, "key_service": {
        "url": "https://keys.example/ks", "job": "j1", "token": "t" * 16}}
    cases: list[tuple[int, type[HedgeError], str, Callable[[], object]]] = [
        (401, PolicyError, "Authorization: Bearer", lambda: nobody.bundle(cid)),
        (403, PolicyError, "admin token", lambda: own.create_consortium("x", key, bundle)),
        (403, PolicyError, "owner token", lambda: edge.uploads(cid)),
        (404, PolicyError, f"no consortium {cid}", lambda: other.uploads(cid)),
        (409, PolicyError, "choose another", lambda: admin.create_consortium("acme", key, bundle)),
        (409, PolicyError, "choose another", lambda: own.add_site(cid, "plant-1")),
        (404, PolicyError, "hedge owner status", lambda: own.revoke_site(cid, "nobody")),
        (400, ParameterError, "idempotency key", lambda: edge.upload(cid, "bad key!", body)),
        (409, KeyMismatchError, "another key set", lambda: edge.upload(cid, "k2", foreign)),
        (400, CorruptDataError, "not hedge data", lambda: edge.upload(cid, "k3", b"\0" * 5000)),
        (404, PolicyError, "no uploads [99]", lambda: own.submit_job(cid, {**ridge,
                                                                          "uploads": [99]})),
        (404, PolicyError, "store it first", lambda: own.submit_job(cid, {
            "kind": "evaluate", "model_blob": "0" * 64})),
        (403, PolicyError, "--key-service", lambda: own.submit_job(cid, assisted)),
        (403, PolicyError, "fewer than 1000", lambda: floor.submit_job(cid, ridge)),
        (422, ParameterError, "body field", lambda: own.submit_job(cid, {"model": "svm"})),
        (404, PolicyError, "no job 999", lambda: own.job(cid, 999)),
        (409, PolicyError, "wait until it is done", lambda: own.job_result(cid, queued)),
        (404, PolicyError, "hedge owner status", lambda: own.publish(cid, "nobody", 1, package)),
        (409, PolicyError, "next number", lambda: own.publish(cid, "plant-1", 1, b"other")),
        (422, ParameterError, "body field name", lambda: own.add_site(cid, "bad name")),
    ]
    for code, raised, says, call in cases:
        with pytest.raises(raised, match=f"^cloud answered {code}: ") as info:
            call()
        assert type(info.value) is raised and says in str(info.value), (code, info.value)
        answer = answers[-1].json()
        assert (answers[-1].status_code, answer["error"]) == (code, raised.__name__), answer
    assert answers[0].headers["WWW-Authenticate"] == "Bearer"
    assert as_(plant_2).latest_deployment(cid) is None  # a refusal the client expects
    assert (answers[-1].status_code, answers[-1].json()["error"]) == (404, "PolicyError")


def test_no_route_refuses_without_naming_its_error(client: TestClient, service: CloudService,
                                                   owner_keys: KeySet,
                                                   stranger_keys: KeySet) -> None:
    """Every route of the app, with every kind of token, valid and invalid path parameters
    and a malformed body, every method it does not take, and paths it does not have: no 4xx
    lacks `error` (a name the clients raise as it is), none is a 5xx."""
    cid, owner = consortium(client, service, owner_keys)
    tokens = {"none": None, "unknown": "hedge_guess", "admin": service.admin_token,
              "owner": owner, "site": site(client, cid, owner, "plant-1"),
              "stranger": consortium(client, service, stranger_keys, "globex")[1]}
    valid = {"cid": str(cid), "job_id": "999", "sequence": "1", "name": "nobody", "key": "k1",
             "rid": "0" * 32, "holder": "plant-1"}
    routes = [r for r in client.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    assert {r.path for r in routes} >= {"/v1/consortia/{cid}/jobs/{job_id}/result",
                                        "/v1/consortia/{cid}/deployments/latest"}
    requests: list[tuple[str, str, str | None]] = []
    for route in routes:
        for params in (valid, dict.fromkeys(valid, "x")):
            path = route.path.format(**params)
            for method in sorted(route.methods or ()):
                requests += [(method, path, token) for token in tokens.values()]
            requests += [(m, path, owner) for m in ("GET", "PUT", "PATCH", "DELETE")
                         if m not in (route.methods or ())]  # 405, or another route's
            requests.append(("GET", path + "/nowhere", owner))  # no such route
    problems, seen = [], set()
    for method, path, token in requests:
        r = client.request(method, path, content=b"{", headers={
            "Content-Type": "application/json", **(bearer(token) if token else {})})
        seen.add(r.status_code)
        if r.status_code >= 500:
            problems.append((method, path, r.status_code, r.text))
        elif r.status_code >= 400:
            answer = r.json()
            error = answer.get("error")
            named = isinstance(error, str) and refusal_class(r.status_code, error).__name__
            if named != error or not isinstance(answer.get("detail"), str):
                problems.append((method, path, r.status_code, r.text))
    assert not problems, problems
    assert seen >= {400, 401, 403, 404, 405, 422}  # the walk reaches every kind
