"""The job kinds' registry: the built-in kinds, the API's tagged union derived from it, the
stored specs checked again, and a kind added by one module and one registration (the tests'
own `row-count`) running end to end through the cloud's API and a worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hedge.ckks import EncryptedVector, KeySet
from hedge.ckks.hazmat import decrypt_exact
from hedge.cloud import CloudService
from hedge.cloud.worker import Worker
from hedge.errors import ParameterError
from hedge.jobs import EvaluateSpec, JobSpec, PrepareSpec, TrainSpec, kinds, parse_spec, registry

from ..cloud.test_api import bearer, consortium, dataset, site
from .row_count import RowCountSpec


@pytest.fixture
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations of this test stay in this test."""
    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))


def test_the_built_in_kinds_are_registered_by_name() -> None:
    assert kinds() == {"train": TrainSpec, "evaluate": EvaluateSpec, "prepare": PrepareSpec}
    assert registry.kind_of("prepare") is PrepareSpec
    with pytest.raises(ParameterError, match="unknown job kind 'boost'"):
        registry.kind_of("boost")


def test_a_name_is_registered_once_and_a_kind_must_name_itself(own_registry: None) -> None:
    class Again(JobSpec):
        kind: str = "train"

    class Nameless(JobSpec):
        pass

    with pytest.raises(ParameterError, match="already registered"):
        registry.register(Again)
    with pytest.raises(ParameterError, match="declares no kind name"):
        registry.register(Nameless)
    assert registry.register(TrainSpec) is TrainSpec  # the same class again: no change


def test_a_stored_spec_is_checked_by_the_rules_it_was_admitted_by() -> None:
    spec = parse_spec("train", {"model": "ridge", "iterations": 3})
    assert isinstance(spec, TrainSpec) and spec.steps == 3
    with pytest.raises(ParameterError, match="a train job spec is invalid"):
        parse_spec("train", {"model": "ridge", "iterations": 0})
    with pytest.raises(ParameterError, match="only logistic regression trains with a key"):
        parse_spec("train", {"model": "ridge", "iterations": 3, "key_service": {
            "url": "http://127.0.0.1:1/", "job": "j", "token": "t" * 32}})
    with pytest.raises(ParameterError, match="unknown job kind"):
        parse_spec("nothing", {})
    with pytest.raises(ParameterError, match="a prepare job spec is invalid"):
        PrepareSpec.build(uploads=[0])


@pytest.fixture(scope="module")
def owner_keys() -> KeySet:
    """A bundle the tests' upload limit takes (one rotation key)."""
    return KeySet.generate("fast", rotations=[1])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[CloudService]:
    svc = CloudService(tmp_path / "cloud", None, max_upload=8 * 2**20, min_job_rows=0)
    yield svc
    svc.close()


def test_a_kind_registered_before_the_app_is_made_runs_end_to_end(
        own_registry: None, service: CloudService, owner_keys: KeySet) -> None:
    registry.register(RowCountSpec)
    client = TestClient(service.app())
    cid, owner = consortium(client, service, owner_keys)
    for name, seed in (("p1", 1), ("p2", 2)):
        body, _ = dataset(owner_keys, rows=30, seed=seed)
        assert client.put(f"/v1/consortia/{cid}/uploads/{name}", content=body,
                          headers=bearer(site(client, cid, owner, name))).status_code == 201
    url = f"/v1/consortia/{cid}/jobs"
    refused = client.post(url, json={"kind": "row-count", "most_uploads": 1},
                          headers=bearer(owner))
    assert refused.status_code == 403 and "at most 1" in refused.json()["detail"]
    wrong = client.post(url, json={"kind": "row-count", "most": 1}, headers=bearer(owner))
    assert wrong.status_code == 422 and "most" in wrong.json()["detail"]
    made = client.post(url, json={"kind": "row-count"}, headers=bearer(owner))
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "row-count" and made.json()["total"] == 1
    assert Worker(service.db, service.blobs).run_once()
    done = client.get(f"{url}/{made.json()['id']}", headers=bearer(owner)).json()
    assert done["status"] == "done", done
    raw = client.get(f"{url}/{made.json()['id']}/result", headers=bearer(owner)).content
    counted = decrypt_exact(owner_keys, EncryptedVector.from_bytes(raw, owner_keys.public()))
    assert round(float(counted[0])) == 60


def test_the_api_names_every_registered_kind_when_a_body_names_none_of_them(
        own_registry: None, service: CloudService, owner_keys: KeySet) -> None:
    registry.register(RowCountSpec)
    client = TestClient(service.app())
    cid, owner = consortium(client, service, owner_keys)
    answer = client.post(f"/v1/consortia/{cid}/jobs", json={"kind": "boost"},
                         headers=bearer(owner))
    assert answer.status_code == 422
    assert ("kind must be 'train' (the default), 'evaluate', 'prepare' or 'row-count'"
            in answer.json()["detail"])
