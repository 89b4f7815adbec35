"""The job queue and the workers: exclusive claims, ownership, requeueing, training jobs that
resume from their encrypted checkpoint after a crash and end with the same model."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from hedge.ckks import KeySet
from hedge.ckks.hazmat import ExactReleases
from hedge.cloud import CloudService
from hedge.cloud.app import DEFAULT_MIN_JOB_ROWS
from hedge.cloud.db import Consortium, Site, Upload
from hedge.cloud.jobs import JobQueue
from hedge.cloud.routes_jobs import _under
from hedge.cloud.worker import Worker
from hedge.data import Schema, load_idash
from hedge.errors import CorruptDataError, PolicyError
from hedge.ml import EncryptedDataset, EncryptedLinearModel, EncryptedLogisticRegression, RowLayout
from hedge.ml.evaluation import EncryptedEvaluation
from hedge.ml.metrics import BRIER_BOUND
from hedge.ml.pooled_statistics import PooledStatistics
from hedge.owner import AuditLog
from hedge.owner.statistics_release import release_statistics
from hedge.wire.protocol import MAX_JOB_ATTEMPTS

from .test_api import bearer, consortium, dataset, site

TRAIN_TOL = 1e-4  # CKKS noise of a training run at N=16384 (tests/ml/test_logistic.py)


def a_consortium(service: CloudService, keys: KeySet) -> int:
    with service.db.session() as s:
        digest = service.blobs.put(keys.public().to_bytes())
        row = Consortium(name="c", bundle=digest, edge_bundle=digest,
                         fingerprint=keys.fingerprint, owner_key="x" * 44)
        s.add(row)
        s.flush()
        return row.id


def test_claims_are_exclusive_and_owned(service: CloudService, owner_keys: KeySet) -> None:
    queue = JobQueue(service.db)
    cid = a_consortium(service, owner_keys)
    first = queue.submit(cid, "train", {"model": "ridge", "iterations": 1}, 1)
    second = queue.submit(cid, "train", {"model": "ridge", "iterations": 1}, 1)
    a, b = queue.claim("worker-a"), queue.claim("worker-b")
    assert a is not None and b is not None and (a.id, b.id) == (first, second)
    assert queue.claim("worker-c") is None
    queue.heartbeat(first, "worker-a", 1)
    with pytest.raises(PolicyError, match="no longer run by"):
        queue.finish(first, "worker-b", "0" * 64)  # not its job
    queue.fail(second, "worker-b", "boom")
    job = queue.get(second)
    assert job is not None and job.status == "failed" and job.message == "boom"


def test_silent_workers_lose_their_jobs(service: CloudService, owner_keys: KeySet) -> None:
    queue = JobQueue(service.db)
    job_id = queue.submit(a_consortium(service, owner_keys), "train", {}, 1)
    for attempt in range(1, MAX_JOB_ATTEMPTS + 1):
        claimed = queue.claim(f"w{attempt}")
        assert claimed is not None and claimed.attempts == attempt
        assert queue.requeue_stale(dt.timedelta(hours=1)) == []  # still fresh
        assert queue.requeue_stale(dt.timedelta(seconds=-1)) == [job_id]
        with pytest.raises(PolicyError):
            queue.heartbeat(job_id, f"w{attempt}")  # presumed dead: it may not write
    job = queue.get(job_id)
    assert job is not None and job.status == "failed" and "stopped 3 times" in job.message


class Killed(BaseException):
    """Stands for the worker process dying (nothing below it handles this)."""


@pytest.mark.datasets
def test_training_resumes_from_its_checkpoint_after_a_crash_then_an_evaluation_runs(
        tmp_path: Path, db_url: str | None) -> None:
    layout = RowLayout(10, 8192)  # local preconditioning: no row-product keys
    steps = {*layout.row_sum_steps(), *layout.column_sum_steps(), -layout.width}
    keys = KeySet.generate("standard", rotations=sorted(steps))
    service = CloudService(tmp_path / "big", db_url, max_upload=2**30)  # a 330 MB bundle
    frame = load_idash("edin")
    schema = Schema.infer(frame, label="y")
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    client = TestClient(service.app())
    cid, owner = consortium(client, service, keys)
    for name, rows in (("a", slice(0, 600)), ("b", slice(600, None))):
        token = site(client, cid, owner, name)
        body = EncryptedDataset.encrypt(keys.public(), x[rows], y[rows], schema.columns)
        assert client.put(f"/v1/consortia/{cid}/uploads/{name}-1", content=body.to_bytes(),
                          headers=bearer(token)).status_code == 201
    r = client.post(f"/v1/consortia/{cid}/jobs", json={"model": "logistic", "iterations": 2},
                    headers=bearer(owner))
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert client.get(f"/v1/consortia/{cid}/jobs/{job_id}/result",
                      headers=bearer(owner)).status_code == 409

    first = Worker(service.db, service.blobs, name="first")
    save = first.queue.save_checkpoint

    def save_then_die(*args: object) -> None:
        save(*args)  # type: ignore[arg-type]
        raise Killed

    first.queue.save_checkpoint = save_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        first.run_once()
    state = client.get(f"/v1/consortia/{cid}/jobs/{job_id}", headers=bearer(owner)).json()
    assert state["status"] == "running" and state["progress"] == 1

    second = Worker(service.db, service.blobs, name="second",
                    stale_after=dt.timedelta(seconds=-1))
    assert second.run_once()
    state = client.get(f"/v1/consortia/{cid}/jobs/{job_id}", headers=bearer(owner)).json()
    assert state["status"] == "done" and state["attempts"] == 2 and state["has_result"]
    raw = client.get(f"/v1/consortia/{cid}/jobs/{job_id}/result", headers=bearer(owner))
    path = service.data_dir / "model.hem"
    path.write_bytes(raw.content)
    resumed = EncryptedLinearModel.load(path, keys.public()).decrypt(ExactReleases(keys))
    with service.db.session() as s:
        blobs = [u.blob for u in s.query(Upload).order_by(Upload.id)]
    data = EncryptedDataset.concat([EncryptedDataset.from_bytes(service.blobs.read(b),
                                                                keys.public()) for b in blobs])
    straight = EncryptedLogisticRegression(iterations=2).fit(data).decrypt(ExactReleases(keys))
    assert np.allclose(resumed.coef, straight.coef, atol=TRAIN_TOL)
    assert abs(resumed.intercept - straight.intercept) < TRAIN_TOL

    # the owner has the released model scored on site b's upload: encrypted afresh, stored,
    # evaluated by a worker; only the aggregates come back, encrypted
    stored = client.put(f"/v1/consortia/{cid}/models", headers=bearer(owner),
                        content=EncryptedLinearModel.encrypt(resumed, keys.public()).to_bytes())
    assert stored.status_code == 201, stored.text
    with service.db.session() as s:
        upload_b = s.query(Upload).order_by(Upload.id).all()[1].id
    r = client.post(f"/v1/consortia/{cid}/jobs", headers=bearer(owner), json={
        "kind": "evaluate", "model_blob": stored.json()["blob"], "uploads": [upload_b]})
    assert r.status_code == 201, r.text
    assert second.run_once()
    state = client.get(f"/v1/consortia/{cid}/jobs/{r.json()['id']}", headers=bearer(owner)).json()
    assert state["status"] == "done", state
    raw = client.get(f"/v1/consortia/{cid}/jobs/{r.json()['id']}/result", headers=bearer(owner))
    report = EncryptedEvaluation.from_bytes(raw.content, keys.public()).decrypt(keys)
    xb, yb = x[600:], y[600:]
    assert report.rows == len(yb)
    assert abs(report.brier - np.mean((yb - resumed.predict_proba(xb)) ** 2)) <= BRIER_BOUND
    predicted_right = ((resumed.decision_function(xb) > 0) == (yb == 1)).mean()
    assert abs(report.counts.accuracy - predicted_right) < 0.05
    service.close()


def test_job_api_validates_and_scopes(client: TestClient, service: CloudService,
                                      owner_keys: KeySet, stranger_keys: KeySet) -> None:
    cid, owner = consortium(client, service, owner_keys, "acme")
    other_cid, other_owner = consortium(client, service, stranger_keys, "globex")
    token = site(client, cid, owner, "p1")
    url = f"/v1/consortia/{cid}/jobs"
    for bad, says in (({"model": "svm", "iterations": 2}, "train.model: Input should be"),
                      ({"model": "ridge", "iterations": 0}, "train.iterations: Input should"),
                      ({"model": "ridge", "iterations": 2, "extra": 1}, "train.extra: Extra"),
                      ({"model": "ridge", "iterations": 2, "uploads": []}, "train.uploads"),
                      ({"kind": "nope"}, "the body: kind must be 'train' (the default), "),
                      ([1], "the body: kind must be")):
        r = client.post(url, json=bad, headers=bearer(owner))
        assert (r.status_code, r.json()["error"]) == (422, "ParameterError"), r.text
        detail = r.json()["detail"]  # the kind's own problems only, not the other kinds'
        assert says in detail and "evaluate." not in detail and "prepare." not in detail, detail
    assert client.post(url, json={"model": "ridge", "iterations": 1},
                       headers=bearer(token)).status_code == 403
    unknown = client.post(url, json={"model": "ridge", "iterations": 1, "uploads": [99]},
                          headers=bearer(owner))  # upload 99 does not exist here
    assert unknown.status_code == 404 and "no uploads [99]" in unknown.json()["detail"]
    made = client.post(url, json={"model": "ridge", "iterations": 1}, headers=bearer(owner))
    assert made.status_code == 201  # all uploads: none yet (this service sets no minimum)
    job_id = made.json()["id"]
    assert client.get(f"/v1/consortia/{other_cid}/jobs/{job_id}",
                      headers=bearer(other_owner)).status_code == 404
    assert Worker(service.db, service.blobs).run_once()  # a job over no uploads fails
    state = client.get(f"{url}/{job_id}", headers=bearer(owner)).json()
    assert state["status"] == "failed" and "uploads" in state["message"]
    listed = client.get(url, headers=bearer(owner)).json()
    assert [j["id"] for j in listed] == [job_id]
    assert json.loads(json.dumps(listed))[0]["has_result"] is False


def test_a_worker_survives_an_unreadable_upload(service: CloudService,
                                                owner_keys: KeySet) -> None:
    cid = a_consortium(service, owner_keys)
    with service.db.session() as s:
        site = Site(consortium_id=cid, name="p")
        s.add(site)
        s.flush()
        s.add(Upload(consortium_id=cid, site_id=site.id, idempotency_key="k",
                     blob=service.blobs.put(b"HEDGE junk that passed no check"), rows=1, size=1))
    worker = Worker(service.db, service.blobs)
    assert worker.prefetch()  # the bundle
    assert worker.prefetch()  # the upload: unreadable, noted, no exception
    assert not worker.prefetch()  # nothing left to do; it is not tried again
    job = JobQueue(service.db).submit(cid, "train", {"model": "ridge", "iterations": 1}, 1)
    assert worker.run_once()
    state = JobQueue(service.db).get(job)
    assert state is not None and state.status == "failed" and "CorruptDataError" in state.message


def test_an_upload_an_older_cloud_took_is_marked_unreadable_once(service: CloudService,
                                                                  owner_keys: KeySet) -> None:
    """A dataset whose header says `penalties: 0.0` (an older cloud stored it unchecked): its
    parse raised TypeError deep in the worker's prefetch, which tried it again for ever; now it
    is a `CorruptDataError`, noted once, and a job using it fails saying so."""
    from .test_bounds import recrafted

    cid = a_consortium(service, owner_keys)
    body, _ = dataset(owner_keys)
    with service.db.session() as s:
        site = Site(consortium_id=cid, name="p")
        s.add(site)
        s.flush()
        s.add(Upload(consortium_id=cid, site_id=site.id, idempotency_key="k", rows=40, size=1,
                     blob=service.blobs.put(recrafted(body, penalties=0.0))))
    worker = Worker(service.db, service.blobs)
    assert worker.prefetch()  # the bundle
    assert worker.prefetch()  # the upload: unreadable, noted
    assert not worker.prefetch()  # not tried again
    job = JobQueue(service.db).submit(cid, "train", {"model": "ridge", "iterations": 1}, 1)
    assert worker.run_once()
    state = JobQueue(service.db).get(job)
    assert state is not None and state.status == "failed"
    assert state.message.startswith("CorruptDataError") and "penalties" in state.message


def test_evaluation_jobs_take_only_the_consortium_s_encrypted_models(
        client: TestClient, service: CloudService, owner_keys: KeySet,
        stranger_keys: KeySet) -> None:
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "p1")
    url = f"/v1/consortia/{cid}/models"
    model = EncryptedLinearModel(owner_keys.public().encrypt(np.ones(3)), RowLayout(3, 4096),
                                 ["(bias)", "a", "b"])
    stored = client.put(url, content=model.to_bytes(), headers=bearer(owner))
    assert stored.status_code == 201
    again = client.put(url, content=model.to_bytes(), headers=bearer(owner))
    assert again.json() == stored.json()  # content-addressed: idempotent
    foreign = dataclasses.replace(model, weights=stranger_keys.public().encrypt(np.ones(3)))
    assert client.put(url, content=foreign.to_bytes(), headers=bearer(owner)).status_code == 409
    dataset = EncryptedDataset.encrypt(owner_keys.public(), np.zeros((2, 2)), np.ones(2),
                                       ["a", "b"])
    assert client.put(url, content=dataset.to_bytes(), headers=bearer(owner)).status_code == 400
    assert client.put(url, content=model.to_bytes(), headers=bearer(token)).status_code == 403
    jobs = f"/v1/consortia/{cid}/jobs"
    assert client.post(jobs, headers=bearer(owner), json={
        "kind": "evaluate", "model_blob": "0" * 64}).status_code == 404
    # blobs are shared across consortia: another consortium's model, or a site's dataset,
    # is refused when the job is submitted, not when a worker takes it
    other, other_owner = consortium(client, service, stranger_keys, name="other")
    theirs = client.put(f"/v1/consortia/{other}/models", content=foreign.to_bytes(),
                        headers=bearer(other_owner))
    assert theirs.status_code == 201
    refused = client.post(jobs, headers=bearer(owner), json={
        "kind": "evaluate", "model_blob": theirs.json()["blob"]})
    assert refused.status_code == 409 and "another key set" in refused.text
    assert client.put(f"/v1/consortia/{cid}/uploads/p1-1", content=dataset.to_bytes(),
                      headers=bearer(token)).status_code == 201
    with service.db.session() as s:
        upload_blob = s.query(Upload).one().blob
    refused = client.post(jobs, headers=bearer(owner), json={
        "kind": "evaluate", "model_blob": upload_blob})
    assert refused.status_code == 400 and "expected the evaluated blob" in refused.text
    assert client.get(jobs, headers=bearer(owner)).json() == []
    assert client.post(jobs, headers=bearer(owner), json={
        "kind": "evaluate", "model_blob": "../etc"}).status_code == 422


def test_a_preparation_adds_the_sites_statistics(client: TestClient, service: CloudService,
                                                owner_keys: KeySet, tmp_path: Path) -> None:
    cid, owner = consortium(client, service, owner_keys)
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (90, 3)).round(5)
    y = (x[:, 1] > 0).astype(float)
    for name, rows in (("p1", slice(0, 50)), ("p2", slice(50, None))):
        body = EncryptedDataset.encrypt(owner_keys.public(), x[rows], y[rows], ["a", "b", "c"])
        assert client.put(f"/v1/consortia/{cid}/uploads/{name}", content=body.to_bytes(),
                          headers=bearer(site(client, cid, owner, name))).status_code == 201
    url = f"/v1/consortia/{cid}/jobs"
    assert client.post(url, json={"kind": "prepare", "uploads": []},
                       headers=bearer(owner)).status_code == 422
    made = client.post(url, json={"kind": "prepare"}, headers=bearer(owner))
    assert made.status_code == 201, made.text
    assert Worker(service.db, service.blobs).run_once()
    raw = client.get(f"{url}/{made.json()['id']}/result", headers=bearer(owner)).content
    pooled = PooledStatistics.from_bytes(raw, owner_keys.public())
    assert pooled.columns == ["a", "b", "c"]
    stats = release_statistics(owner_keys, pooled.vector, pooled.columns,
                               AuditLog(tmp_path / "audit.jsonl"), min_rows=10)
    assert stats.counts.tolist() == [float((y == 0).sum()), float((y == 1).sum())]
    assert np.allclose(stats.means[0], x[y == 0].mean(axis=0), atol=5e-3)  # flooding: ~3e-4
    assert np.allclose(stats.stds[1], x[y == 1].std(axis=0), atol=5e-3)


@pytest.mark.datasets
def test_a_worker_on_ray_trains_the_same_model(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    layout = RowLayout(10, 8192)
    keys = KeySet.generate("standard", rotations=sorted(
        {*layout.row_sum_steps(), *layout.column_sum_steps(), -layout.width}))
    service = CloudService(tmp_path / "cloud", None, max_upload=2**30)
    frame = load_idash("edin")
    schema = Schema.infer(frame, label="y")
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    client = TestClient(service.app())
    cid, owner = consortium(client, service, keys)
    body = EncryptedDataset.encrypt(keys.public(), x[:300], y[:300], schema.columns).to_bytes()
    assert client.put(f"/v1/consortia/{cid}/uploads/a-1", content=body,
                      headers=bearer(site(client, cid, owner, "a"))).status_code == 201
    models = []
    for worker in (Worker(service.db, service.blobs), Worker(service.db, service.blobs,
                                                             ray="local")):
        r = client.post(f"/v1/consortia/{cid}/jobs", json={"model": "logistic", "iterations": 2},
                        headers=bearer(owner))
        try:
            assert worker.run_once()
        finally:
            worker.close()
        raw = client.get(f"/v1/consortia/{cid}/jobs/{r.json()['id']}/result",
                         headers=bearer(owner)).content
        models.append(EncryptedLinearModel.from_bytes(raw, keys.public()).decrypt(
            ExactReleases(keys)))
    alone, on_ray = models
    assert abs(alone.intercept - on_ray.intercept) < 1e-9
    assert np.allclose(alone.coef, on_ray.coef, atol=1e-9)
    service.close()


def test_an_unexpected_error_gives_the_job_back_at_once(service: CloudService,
                                                        owner_keys: KeySet) -> None:
    queue = JobQueue(service.db)
    job_id = queue.submit(a_consortium(service, owner_keys), "train",
                          {"model": "ridge", "iterations": 1}, 1)
    worker = Worker(service.db, service.blobs)

    def broken(job: object) -> tuple[str, float]:
        raise RuntimeError("a bug")

    worker._run = broken  # type: ignore[method-assign]
    for attempt in range(1, MAX_JOB_ATTEMPTS + 1):
        assert worker.run_once()
        state = queue.get(job_id)
        assert state is not None and state.attempts == attempt and "a bug" in state.message
        assert state.status == ("failed" if attempt == MAX_JOB_ATTEMPTS else "queued")


def test_assisted_jobs_name_only_key_services_the_cloud_allows(
        client: TestClient, service: CloudService, owner_keys: KeySet, tmp_path: Path) -> None:
    cid, owner = consortium(client, service, owner_keys)
    url = f"/v1/consortia/{cid}/jobs"

    def spec(where: str) -> dict[str, object]:
        return {"model": "logistic", "iterations": 2,
                "key_service": {"url": where, "job": "j1", "token": "t" * 20}}

    for where in ("http://127.0.0.1:8765", "http://10.1.2.3:8765"):  # none without a list
        refused = client.post(url, json=spec(where), headers=bearer(owner))
        assert refused.status_code == 403 and "--key-service" in refused.json()["detail"]
    configured = CloudService(tmp_path / "other", key_services=("https://keys.acme.example/",),
                              min_job_rows=0)
    other = TestClient(configured.app())
    cid2, owner2 = consortium(other, configured, owner_keys)
    assert other.post(f"/v1/consortia/{cid2}/jobs", json=spec("https://keys.acme.example/ks"),
                      headers=bearer(owner2)).status_code == 201
    assert other.post(f"/v1/consortia/{cid2}/jobs", json=spec("http://127.0.0.1:8765"),
                      headers=bearer(owner2)).status_code == 403
    for elsewhere in ("https://keys.acme.example.evil.net/ks",  # a longer host name
                      "https://keys.acme.example@10.0.0.5:8080/ks",  # user info: connects to .5
                      "https://keys.acme.example:8443/ks",  # another port
                      "http://keys.acme.example/ks"):  # another scheme
        assert other.post(f"/v1/consortia/{cid2}/jobs", json=spec(elsewhere),
                          headers=bearer(owner2)).status_code == 403, elsewhere
    assert other.post(f"/v1/consortia/{cid2}/jobs", json=spec("https://keys.acme.example:443/"),
                      headers=bearer(owner2)).status_code == 201  # the default port, spelt out
    configured.close()


def assisted_job(tmp_path: Path, keys: KeySet, base: str, token: str
                 ) -> tuple[CloudService, TestClient, int, str, Any]:
    """A cloud that allows the key service at `base`, one upload, and an assisted training
    job naming it (key-service job "j-1", `token`): (service, client, consortium, owner
    token, the job's answer)."""
    service = CloudService(tmp_path / "cloud", key_services=(base,), min_job_rows=0)
    client = TestClient(service.app())
    cid, owner = consortium(client, service, keys)
    body, _ = dataset(keys)
    client.put(f"/v1/consortia/{cid}/uploads/u1", content=body,
               headers=bearer(site(client, cid, owner, "a")))
    made = client.post(f"/v1/consortia/{cid}/jobs", headers=bearer(owner), json={
        "model": "logistic", "iterations": 2,
        "key_service": {"url": f"{base}/ks", "job": "j-1", "token": token}})
    assert made.status_code == 201, made.text
    return service, client, cid, owner, made


def test_the_key_service_token_is_sealed_in_the_job_row_and_dropped_at_its_end(
        tmp_path: Path, owner_keys: KeySet) -> None:
    """A dump of the database alone holds no key-service token: the job row holds it sealed
    under the cloud's seal key (DATA_DIR/seal.key), the worker opens it, and once the job
    has ended the row holds not even the sealed form."""
    token = "kst_" + "q" * 40
    service, client, cid, owner, made = assisted_job(tmp_path, owner_keys,
                                                     "http://127.0.0.1:9", token)
    queue = JobQueue(service.db)
    stored = queue.get(made.json()["id"])
    assert stored is not None and token not in json.dumps(stored.spec)
    sealed = stored.spec["key_service"]["token"]
    assert service.seal.unseal(sealed, f"{cid}:j-1") == token
    with pytest.raises(CorruptDataError):  # bound to its job: useless in another
        service.seal.unseal(sealed, f"{cid}:j-2")
    worker = Worker(service.db, service.blobs, seal=service.seal)
    assert worker.run_once()  # nothing listens on port 9: the job fails, having opened it
    ended = queue.get(made.json()["id"])
    assert ended is not None and ended.status == "failed"
    assert "cannot be reached" in ended.message and token not in ended.message
    assert "token" not in ended.spec["key_service"]
    dump = b"".join(p.read_bytes() for p in (tmp_path / "cloud").glob("cloud.db*"))
    assert token.encode() not in dump and sealed.encode() not in dump
    no_seal = Worker(service.db, service.blobs)  # a worker without the seal key
    again = client.post(f"/v1/consortia/{cid}/jobs", headers=bearer(owner), json={
        "model": "logistic", "iterations": 2,
        "key_service": {"url": "http://127.0.0.1:9/ks", "job": "j-2", "token": token}})
    assert no_seal.run_once()
    state = queue.get(again.json()["id"])
    assert state is not None and "holds no seal key" in state.message
    service.close()


def test_a_job_message_repeats_no_body_of_what_answers_at_the_key_service_url(
        tmp_path: Path, owner_keys: KeySet) -> None:
    """Whatever answers at an allowed key-service URL, the job's message (which the owner
    reads) carries its status, never its body."""
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    from tests.owner.conftest import serve

    internal = FastAPI()

    @internal.get("/{anything:path}")
    def leak(anything: str) -> PlainTextResponse:
        return PlainTextResponse("secret=hunter2-internal", status_code=418)

    with serve(internal) as base:
        service, _, _, _, made = assisted_job(tmp_path, owner_keys, base, "t" * 20)
        assert Worker(service.db, service.blobs, seal=service.seal).run_once()
        state = JobQueue(service.db).get(made.json()["id"])
        assert state is not None and state.status == "failed"
        assert "418" in state.message and "hunter2" not in state.message
        service.close()

    answers = FastAPI()  # what a key service answers, with secrets in every field

    @answers.get("/a/ks/jobs/{job}")
    def state_with_a_secret(job: str) -> dict[str, object]:
        return {"length": "root:x:0:0 secret-metadata", "detail": "AKIA-secret"}

    @answers.get("/b/ks/jobs/{job}")
    def not_json(job: str) -> PlainTextResponse:
        return PlainTextResponse("AKIA-secret, not JSON")

    with serve(answers) as base:
        for path, says in (("a", "another number of weights"), ("b", "without the JSON")):
            service, _, _, _, made = assisted_job(tmp_path / path, owner_keys,
                                                  f"{base}/{path}", "t" * 20)
            assert Worker(service.db, service.blobs, seal=service.seal).run_once()
            state = JobQueue(service.db).get(made.json()["id"])
            assert state is not None and state.status == "failed" and says in state.message
            assert "secret" not in state.message, state.message
            service.close()


@pytest.mark.parametrize(("url", "prefix", "under"), [
    ("https://k.example/ks/jobs", "https://k.example/ks", True),
    ("https://k.example/ks", "https://k.example/ks/", True),
    ("https://k.example/ksx", "https://k.example/ks", False),  # a whole path segment only
    ("https://k.example/other/ks", "https://k.example/ks", False),
    ("https://k.example:99999/ks", "https://k.example/ks", False),  # not a port
    ("https://k.example/ks/../admin", "https://k.example/ks", False),  # resolves to /admin
    ("https://k.example/ks/%2e%2e/admin", "https://k.example/ks", False),
    ("https://k.example/ks/./jobs", "https://k.example/ks", False),
    ("https://[k.example]:8765/", "https://k.example:8765/", False),  # no address in brackets
    ("https://[::1:8765/", "https://k.example:8765/", False),
    ("https://k.example:8765]/", "https://k.example:8765/", False)])
def test_a_key_service_url_lies_under_a_prefix_by_whole_segments(url: str, prefix: str,
                                                                 under: bool) -> None:
    assert _under(url, prefix) is under


def test_no_job_runs_over_fewer_rows_than_the_cloud_allows(tmp_path: Path,
                                                           owner_keys: KeySet) -> None:
    """What a job computes, the owner decrypts: by default no job over fewer than
    DEFAULT_MIN_JOB_ROWS rows is queued, whatever its kind."""
    service = CloudService(tmp_path / "cloud")
    assert service.min_job_rows == DEFAULT_MIN_JOB_ROWS == 20
    client = TestClient(service.app())
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "p1")
    url = f"/v1/consortia/{cid}/uploads"
    for key, rows in (("few", 3), ("more", 17)):
        body, _ = dataset(owner_keys, rows=rows)
        assert client.put(f"{url}/{key}", content=body, headers=bearer(token)).status_code == 201
    few, more = (u["id"] for u in client.get(url, headers=bearer(owner)).json())
    model = EncryptedLinearModel(owner_keys.public().encrypt(np.ones(3)), RowLayout(3, 4096),
                                 ["a", "b", "c"], "logistic")
    blob = client.put(f"/v1/consortia/{cid}/models", content=model.to_bytes(),
                      headers=bearer(owner)).json()["blob"]
    jobs = f"/v1/consortia/{cid}/jobs"
    for spec in ({"kind": "prepare"}, {"model": "logistic", "iterations": 1},
                 {"kind": "evaluate", "model_blob": blob}):
        refused = client.post(jobs, json={**spec, "uploads": [few]}, headers=bearer(owner))
        assert refused.status_code == 403, refused.text
        assert "hold 3 rows" in refused.json()["detail"]
        assert "fewer than 20" in refused.json()["detail"]
        for uploads in ([few, more], None):  # 20 rows, named or all
            made = client.post(jobs, json={**spec, "uploads": uploads}, headers=bearer(owner))
            assert made.status_code == 201, made.text
    assert len(client.get(jobs, headers=bearer(owner)).json()) == 6  # none of the refused
    service.close()


def test_a_training_plan_that_does_not_fit_the_uploads_is_refused(
        client: TestClient, service: CloudService, owner_keys: KeySet) -> None:
    """The owner's plan (its `features`) meets the sites' schema (the uploads' columns) first
    when the cloud receives the job: a mismatch is refused there, and again by the worker (a
    job on all uploads takes those that came after it too)."""
    cid, owner = consortium(client, service, owner_keys)
    body, _ = dataset(owner_keys)  # 3 features
    assert client.put(f"/v1/consortia/{cid}/uploads/u-1", content=body,
                      headers=bearer(site(client, cid, owner, "a"))).status_code == 201
    queue = JobQueue(service.db)  # stored as if it had passed before the upload came
    late = queue.submit(cid, "train", {"model": "logistic", "iterations": 1, "features": 5}, 1)
    worker = Worker(service.db, service.blobs)
    assert worker.run_once()
    worker.close()
    state = queue.get(late)
    assert state is not None and state.status == "failed"
    assert state.message.startswith("SchemaError: the training plan is for 5 features")

    url = f"/v1/consortia/{cid}/jobs"
    refused = client.post(url, json={"model": "logistic", "iterations": 2, "features": 4},
                          headers=bearer(owner))
    assert (refused.status_code, refused.json()["error"]) == (400, "SchemaError")
    says = refused.json()["detail"]
    assert "plan is for 4 features" in says and "upload 1 has 3" in says
    assert "--features 3" in says
    assert [j["id"] for j in client.get(url, headers=bearer(owner)).json()] == [late]
    fits = client.post(url, json={"model": "logistic", "iterations": 2, "features": 3},
                       headers=bearer(owner))
    assert fits.status_code == 201, fits.text
