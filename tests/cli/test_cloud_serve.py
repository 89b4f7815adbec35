"""`hedge cloud serve` as a real process on loopback: enrol and upload over HTTP, kill the
service in the middle of an upload, restart it, retry: nothing lost, nothing counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from hedge.ckks import KeySet
from hedge.ckks.hazmat import ExactReleases
from hedge.ml import EncryptedDataset
from hedge.services import CloudProcess
from hedge.wire.signing import SigningKey


def database(db_url: str | None) -> list[str]:
    return [] if db_url is None else ["--db-url", db_url]


@pytest.fixture
def server(tmp_path: Path, db_url: str | None) -> Iterator[CloudProcess]:
    s = CloudProcess(tmp_path / "cloud", ["--workers", "0", *database(db_url)])
    s.start()
    yield s
    s.stop()


def test_upload_survives_a_killed_service(server: CloudProcess) -> None:
    keys = KeySet.generate("fast", rotations=[1])
    admin = (server.data_dir / "admin.token").read_text().strip()
    assert oct((server.data_dir / "admin.token").stat().st_mode & 0o777) == "0o600"
    r = httpx.post(server.url + "/v1/consortia",
                   params={"name": "acme", "owner_key": str(SigningKey().verify_key)},
                   content=keys.public().to_bytes(),
                   headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    assert r.status_code == 201, r.text
    cid, owner = r.json()["id"], r.json()["token"]
    r = httpx.post(f"{server.url}/v1/consortia/{cid}/sites", json={"name": "plant-1"},
                   headers={"Authorization": f"Bearer {owner}"})
    site = {"Authorization": f"Bearer {r.json()['token']}"}
    x = np.random.default_rng(0).uniform(-1, 1, (300, 3))
    body = EncryptedDataset.encrypt(keys.public(), x, (x[:, 0] > 0).astype(float),
                                    ["a", "b", "c"]).to_bytes()
    url = f"{server.url}/v1/consortia/{cid}/uploads/batch-1"

    def slow_body() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        server.kill()  # the cloud dies with half the upload received
        time.sleep(0.2)
        yield body[len(body) // 2 :]

    with pytest.raises(httpx.TransportError):
        httpx.put(url, content=slow_body(), headers=site, timeout=30)
    server.start()
    assert not list((server.data_dir / "blobs" / "tmp").iterdir())  # the partial file is gone
    first = httpx.put(url, content=body, headers=site, timeout=30)
    assert first.status_code == 201 and first.json()["rows"] == 300
    retry = httpx.put(url, content=body, headers=site, timeout=30)
    assert retry.status_code == 200 and retry.json()["replay"]
    listed = httpx.get(f"{server.url}/v1/consortia/{cid}/uploads",
                       headers={"Authorization": f"Bearer {owner}"}).json()
    assert [u["rows"] for u in listed] == [300]


@pytest.mark.datasets
def test_training_completes_after_the_service_is_killed(tmp_path: Path,
                                                        db_url: str | None) -> None:
    from hedge.data import Schema, load_ai4i
    from hedge.ml import EncryptedLinearModel, EncryptedLogisticRegression, RowLayout
    from hedge.wire.cloud_client import CloudClient

    frame = load_ai4i().drop(columns=["UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"])
    frame = frame.sample(n=3000, random_state=1)
    schema = Schema.infer(frame, label="Machine failure")
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    layout = RowLayout(len(schema.columns) + 1, 8192)
    keys = KeySet.generate("standard", rotations=sorted(
        {*layout.row_sum_steps(), *layout.column_sum_steps(), -layout.width}))
    server = CloudProcess(tmp_path / "cloud", ["--workers", "1", "--stale-seconds", "3",
                                               *database(db_url)])
    server.start()
    try:
        admin = CloudClient(server.url, (server.data_dir / "admin.token").read_text().strip())
        made = admin.create_consortium("acme", str(SigningKey().verify_key),
                                       keys.public().to_bytes())
        owner = CloudClient(server.url, made["token"])
        cid = made["id"]
        parts = [EncryptedDataset.encrypt(keys.public(), x[rows], y[rows], schema.columns,
                                          class_weight="balanced")
                 for rows in (slice(0, 1500), slice(1500, None))]
        for i, part in enumerate(parts):
            site = CloudClient(server.url, owner.add_site(cid, f"p{i}")["token"])
            site.upload(cid, f"b{i}", part.to_bytes())
        job = owner.submit_job(cid, {"model": "logistic", "iterations": 2})["id"]
        while owner.job(cid, job)["status"] == "queued":
            time.sleep(0.02)
        server.kill()  # the service and its worker die during training
        server.start()
        deadline = time.monotonic() + 120
        while (state := owner.job(cid, job))["status"] != "done":
            assert state["status"] in ("queued", "running") and time.monotonic() < deadline
            time.sleep(0.2)
        assert state["attempts"] == 2
        (tmp_path / "m.hem").write_bytes(owner.job_result(cid, job))
        model = EncryptedLinearModel.load(tmp_path / "m.hem", keys.public()).decrypt(
            ExactReleases(keys))
        straight = EncryptedLogisticRegression(iterations=2).fit(
            EncryptedDataset.concat(parts)).decrypt(ExactReleases(keys))
        assert np.allclose(model.coef, straight.coef, atol=1e-4)
    finally:
        server.stop()


def _workers(pid: int) -> set[int]:
    """Worker processes of the service `pid` (spawned children, not the resource tracker)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True,
                           text=True)
    out = set()
    for child in (int(p) for p in found.stdout.split()):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            out.add(child)
    return out


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    server = CloudProcess(tmp_path / "cloud", ["--workers", "1"])
    server.start()
    try:
        assert server.proc is not None
        deadline = time.monotonic() + 20
        while not (workers := _workers(server.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 1
        os.kill(workers.pop(), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not _workers(server.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _workers(server.proc.pid), "no new worker was started"
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()
