"""Requests a client crafts to make the cloud fail: numbers beyond what the database holds,
NaN and infinities in JSON, dataset headers of the wrong types or sizes. Each is refused with a
4xx that names its hedge error, and leaves no row and no blob behind."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hedge.ckks import KeySet, container
from hedge.cloud import CloudService
from hedge.ml.artifact import ArtifactKind

from .test_api import bearer, consortium, dataset, site

HUGE = 2**63


def recrafted(body: bytes, **fields: Any) -> bytes:
    """A dataset upload with header fields replaced, checksums made right again: written by
    hand (docs/engine.md's layout), since hedge's own writer refuses NaN and infinities."""
    header, records = container.from_bytes(body, ArtifactKind.DATASET)
    head = json.dumps({**header.fields, **fields}).encode()
    prefix = struct.pack("<8sHHI", container.MAGIC, container.FORMAT_VERSION,
                         ArtifactKind.DATASET, len(head)) + head
    out = prefix + struct.pack("<I", zlib.crc32(prefix))
    for tag, payload in [*records, (0, struct.pack("<Q", len(records)))]:
        rec = struct.pack("<HQ", tag, len(payload))
        out += rec + payload + struct.pack("<I", zlib.crc32(payload, zlib.crc32(rec)))
    return out


def blobs(service: CloudService) -> list[str]:
    return sorted(p.name for p in (service.data_dir / "blobs").rglob("*") if p.is_file())


@pytest.mark.parametrize("fields", [
    {"site_rows": [2**70]}, {"site_rows": [-500]}, {"site_rows": [10**12]},
    {"site_rows": [float("inf")]}, {"site_rows": [True]}, {"site_rows": ["40"]},
    {"columns": "x"}, {"penalties": 0.0}, {"blocks": 2**64}, {"site_rows": [40.0]},
])
def test_crafted_dataset_headers_are_refused_and_leave_nothing(
        client: TestClient, service: CloudService, owner_keys: KeySet,
        fields: dict[str, Any]) -> None:
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "p1")
    before = blobs(service)
    body, _ = dataset(owner_keys)
    r = client.put(f"/v1/consortia/{cid}/uploads/k1", content=recrafted(body, **fields),
                   headers=bearer(token))
    assert r.status_code == 400 and r.json()["error"] == "CorruptDataError", r.text
    assert client.get(f"/v1/consortia/{cid}/uploads", headers=bearer(owner)).json() == []
    assert blobs(service) == before  # no orphan blob, no temporary file
    ok = client.put(f"/v1/consortia/{cid}/uploads/k2", content=body, headers=bearer(token))
    assert ok.status_code == 201, ok.text  # and the consortium goes on


@pytest.mark.parametrize("path", [
    "/v1/consortia/{cid}/jobs/{huge}", "/v1/consortia/{cid}/jobs/{huge}/result",
    "/v1/consortia/{huge}/jobs", "/v1/consortia/{cid}/jobs/0", "/v1/consortia/{cid}/jobs/-1",
])
def test_ids_beyond_the_database_s_integers_are_422(client: TestClient, service: CloudService,
                                                     owner_keys: KeySet, path: str) -> None:
    cid, owner = consortium(client, service, owner_keys)
    r = client.get(path.format(cid=cid, huge=HUGE), headers=bearer(owner))
    assert r.status_code == 422 and r.json()["error"] == "ParameterError", r.text


def test_a_deployment_sequence_beyond_the_database_s_integers_is_422(
        client: TestClient, service: CloudService, owner_keys: KeySet) -> None:
    cid, owner = consortium(client, service, owner_keys)
    site(client, cid, owner, "p1")
    for sequence in (HUGE, 0):
        r = client.put(f"/v1/consortia/{cid}/sites/p1/deployments/{sequence}", content=b"{}",
                       headers=bearer(owner))
        assert r.status_code == 422 and r.json()["error"] == "ParameterError", r.text
    before = blobs(service)
    for sequence in (2**31 + 5, 2**53):  # beyond a 32-bit column: stored (64-bit columns)
        r = client.put(f"/v1/consortia/{cid}/sites/p1/deployments/{sequence}",
                       content=f'{{"n": {sequence}}}'.encode(), headers=bearer(owner))
        assert r.status_code == 201, r.text
    assert len(blobs(service)) == len(before) + 2


@pytest.mark.parametrize("body", [
    b'{"model": "ridge", "iterations": 1, "uploads": [9223372036854775808]}',
    b'{"model": "ridge", "iterations": NaN}',
    b'{"model": "ridge", "iterations": 1e400}',
    b'{"model": "ridge", "iterations": -Infinity, "uploads": [NaN]}',
    b'{"model": "ridge", "iterations": 1, "features": 1e400}',
])
def test_numbers_json_cannot_hold_or_the_database_cannot_store_are_422(
        client: TestClient, service: CloudService, owner_keys: KeySet, body: bytes) -> None:
    cid, owner = consortium(client, service, owner_keys)
    r = client.post(f"/v1/consortia/{cid}/jobs", content=body,
                    headers={**bearer(owner), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "ParameterError", r.text
    assert all(set(p) == {"type", "loc", "msg"} for p in r.json()["validation"])
    assert client.get(f"/v1/consortia/{cid}/jobs", headers=bearer(owner)).json() == []
