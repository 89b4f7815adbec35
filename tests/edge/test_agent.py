"""The edge agent against an in-process cloud: ingest, upload exactly once across crashes and
outages, install only genuine new models, score rows."""

from __future__ import annotations

import base64
import gc
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from hedge.ckks import KeySet
from hedge.cloud import CloudService
from hedge.cloud.db import Consortium
from hedge.data import RollingWindows, Schema, Window
from hedge.edge import EdgeAgent, EdgeConfig
from hedge.edge.alerts import AlertTracker
from hedge.errors import KeyMismatchError
from hedge.ml import LinearModel
from hedge.wire.cloud_client import CloudClient
from hedge.wire.package import build_package, new_package_key
from hedge.wire.signing import SigningKey

COLUMNS = ["temp", "speed"]


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet.generate("fast", rotations=[])


@pytest.fixture
def world(tmp_path: Path, keys: KeySet) -> Iterator[dict[str, object]]:
    service = CloudService(tmp_path / "cloud", max_upload=64 * 2**20)
    http = TestClient(service.app())
    owner = SigningKey()
    made = http.post("/v1/consortia", params={"name": "acme", "owner_key": str(owner.verify_key)},
                     content=keys.public().to_bytes(),
                     headers={"Authorization": f"Bearer {service.admin_token}"}).json()
    cid, owner_token = made["id"], made["token"]
    site = http.post(f"/v1/consortia/{cid}/sites", json={"name": "plant-1"},
                     headers={"Authorization": f"Bearer {owner_token}"}).json()
    key = new_package_key()
    enrolment = {"version": 1, "cloud": "http://testserver", "consortium": cid,
                 "site": "plant-1", "token": site["token"], "owner_key": str(owner.verify_key),
                 "fingerprint": keys.fingerprint, "package_key": base64.b64encode(key).decode()}
    (tmp_path / "site.json").write_text(json.dumps(enrolment))
    frame = pd.DataFrame({"temp": [300.0, 310.0], "speed": [1200.0, 2800.0], "fail": [0, 1]})
    schema = Schema.infer(frame, label="fail")
    schema.save(tmp_path / "schema.json")
    # uploads of whatever is pending at every cycle: these tests are about what happens to
    # the batches, not when they are due (tests/edge/test_batching.py)
    (tmp_path / "edge.toml").write_text(
        'enrolment = "site.json"\ndata_dir = "data"\nschema = "schema.json"\n'
        '[source]\nfolder = "incoming"\nsettle_seconds = 0\n[upload]\nbatch_rows = 100\n'
        'max_wait_seconds = 0\n')
    yield {"service": service, "http": http, "cid": cid, "owner": owner, "key": key,
           "owner_token": owner_token, "site_token": site["token"], "schema": schema,
           "dir": tmp_path}
    service.close()


def agent(world: dict[str, object], http: httpx.Client | None = None,
          clock: Callable[[], float] = time.time, config_file: str = "edge.toml") -> EdgeAgent:
    config = EdgeConfig.load(Path(str(world["dir"])) / config_file)
    service: CloudService = world["service"]  # type: ignore[assignment]
    client = CloudClient("http://testserver", str(world["site_token"]), sleep=lambda _: None,
                         retries=1, http=http or TestClient(service.app()))
    return EdgeAgent(config, client=client, clock=clock)


def drop(world: dict[str, object], name: str, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"temp": rng.uniform(300, 310, rows),
                          "speed": rng.uniform(1200, 2800, rows),
                          "fail": rng.integers(0, 2, rows)})
    folder = Path(str(world["dir"])) / "incoming"
    folder.mkdir(exist_ok=True)
    frame.to_csv(folder / name, index=False)


def cloud_rows(world: dict[str, object]) -> list[int]:
    http: TestClient = world["http"]  # type: ignore[assignment]
    listed = http.get(f"/v1/consortia/{world['cid']}/uploads",
                      headers={"Authorization": f"Bearer {world['owner_token']}"}).json()
    return [u["rows"] for u in listed]


@contextmanager
def serving_bundle_of(world: dict[str, object], other: KeySet) -> Iterator[None]:
    """A compromised cloud: the consortium's bundles and fingerprint swapped for those of
    `other` (whose plaintexts the cloud could read); restored afterwards."""
    service = world["service"]
    assert isinstance(service, CloudService)
    bundle = other.public()
    with service.db.session() as s:
        row = s.get(Consortium, world["cid"])
        assert row is not None
        saved = row.bundle, row.edge_bundle, row.fingerprint
        row.bundle = service.blobs.put(bundle.to_bytes())
        row.edge_bundle = service.blobs.put(bundle.for_encryption().to_bytes())
        row.fingerprint = other.fingerprint
    try:
        yield
    finally:
        with service.db.session() as s:
            row = s.get(Consortium, world["cid"])
            assert row is not None
            row.bundle, row.edge_bundle, row.fingerprint = saved


def test_ingest_upload_and_reject(world: dict[str, object]) -> None:
    drop(world, "a.csv", 40)
    folder = Path(str(world["dir"])) / "incoming"
    (folder / "b.csv").write_text("temp,speed\n305,2000\n")  # no label column
    (folder / "c.csv").write_text("temp,speed,fail\n900,1500,0\n")  # far outside the range
    edge = agent(world)
    report = edge.step()
    assert report.ingested == 40 and report.rejected == 2 and report.uploaded_rows == 40
    assert cloud_rows(world) == [40]
    assert (folder / "done" / "a.csv").exists()
    assert "lacks column" in (folder / "rejected" / "b.csv.reason.txt").read_text()
    assert "outside the declared range" in (folder / "rejected" / "c.csv.reason.txt").read_text()
    edge.close()


class Down(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("the cloud is down")


def test_outages_and_crashes_lose_nothing_and_count_nothing_twice(
        world: dict[str, object]) -> None:
    drop(world, "a.csv", 30)
    offline = agent(world, http=httpx.Client(transport=Down(), base_url="http://testserver"))
    report = offline.step()  # the cloud is down: rows are buffered, the batch waits
    assert report.ingested == 30 and report.uploaded_rows == 0
    offline.close()
    edge = agent(world)  # back online (a new process: state from the buffer only)
    assert edge.step().uploaded_rows == 30 and cloud_rows(world) == [30]
    # uploaded, then killed before the acknowledgement was recorded: the same batch again
    drop(world, "b.csv", 20, seed=1)

    def die(_: object) -> None:
        raise Killed

    edge.buffer.finish_batch = die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        edge.step()
    assert cloud_rows(world) == [30, 20]  # the cloud has the batch, the edge did not record it
    edge.close()
    again = agent(world)
    assert again.step().uploaded_rows == 20  # re-encrypted, sent under the same key
    assert cloud_rows(world) == [30, 20]  # counted once
    again.close()


class Killed(BaseException):
    """Stands for the edge process dying."""


def publish(world: dict[str, object], sequence: int, package: bytes) -> None:
    http: TestClient = world["http"]  # type: ignore[assignment]
    r = http.put(f"/v1/consortia/{world['cid']}/sites/plant-1/deployments/{sequence}",
                 content=package, headers={"Authorization": f"Bearer {world['owner_token']}"})
    assert r.status_code in (200, 201), r.text


def test_only_genuine_new_models_become_active(world: dict[str, object]) -> None:
    schema: Schema = world["schema"]  # type: ignore[assignment]
    owner: SigningKey = world["owner"]  # type: ignore[assignment]
    key: bytes = world["key"]  # type: ignore[assignment]

    def model(bias: float) -> LinearModel:
        return LinearModel(COLUMNS, bias, np.array([2.0, -1.0]), schema.to_dict())

    def package(version: int, sequence: int, signer: SigningKey = owner,
                replaces: int | None = None, bias: float = 0.0) -> bytes:
        return build_package(model(bias), site="plant-1", sequence=sequence, version=version,
                             signing_key=signer, package_key=key, replaces=replaces)

    edge = agent(world)
    publish(world, 1, package(1, 1))
    assert edge.step().installed == 1
    genuine_v2 = package(2, 6, bias=5.0)
    body = json.loads(genuine_v2)
    body["manifest"]["payload"]["version"] = 3  # tampered
    for sequence, bad in ((2, json.dumps(body).encode()), (3, package(2, 3, SigningKey())),
                          (4, package(1, 4)), (5, b"not a package")):
        publish(world, sequence, bad)
        report = edge.step()
        assert report.refused is not None and edge.models.version == 1, sequence
    publish(world, 6, genuine_v2)
    assert edge.step().installed == 2
    publish(world, 7, package(1, 7, replaces=2))  # a signed rollback
    assert edge.step().installed == 1
    publish(world, 8, genuine_v2)  # the version rolled back from, replayed
    assert edge.step().refused is not None and edge.models.version == 1
    active = edge.models.active()
    assert active is not None and active.intercept == 0.0
    kept = sorted(p.name for p in edge.models.folder.glob("model-*.json"))
    assert kept == ["model-6.json", "model-7.json"]  # the active one and the last good one
    drop(world, "live.csv", 25, seed=3)
    scored = edge.step()
    assert scored.ingested == 25
    lines = (Path(str(world["dir"])) / "data" / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 25 and all(r["model_version"] == 1 for r in records)
    assert scored.alerts == sum(r["alert"] for r in records)
    edge.close()
    (edge.models.folder / "model-7.json").write_text("{damaged")  # the active model's file
    again = agent(world)
    fallback = again.models.active()  # the last good model takes its place, for good
    assert fallback is not None and fallback.intercept == 5.0 and again.models.version == 2
    again.close()
    restarted = agent(world)
    assert restarted.models.version == 2  # the fallback was recorded
    restarted.close()


def test_a_file_read_again_after_a_crash_is_not_counted_twice(
        world: dict[str, object]) -> None:
    drop(world, "a.csv", 12)
    edge = agent(world)
    real = edge.connector.poll

    def poll_then_die() -> Iterator[object]:
        for intake in real():
            def die() -> None:
                raise Killed

            intake.acknowledge = die  # type: ignore[attr-defined]
            yield intake

    edge.connector.poll = poll_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):  # committed to the buffer, killed before the file moved
        edge.step()
    assert edge.buffer.pending() == 12
    edge.close()
    again = agent(world)
    report = again.step()
    assert report.ingested == 0 and again.buffer.pending() == 0  # only acknowledged, uploaded
    assert cloud_rows(world) == [12]
    assert (Path(str(world["dir"])) / "incoming" / "done" / "a.csv").exists()
    again.close()


def test_a_file_larger_than_the_whole_buffer_is_rejected(world: dict[str, object]) -> None:
    folder = Path(str(world["dir"]))
    config = (folder / "edge.toml").read_text() + "[buffer]\nmax_bytes = 2000\n"
    (folder / "edge.toml").write_text(config)
    drop(world, "huge.csv", 100)
    edge = agent(world)
    report = edge.step()
    assert report.rejected == 100 and report.ingested == 0
    reason = (folder / "incoming" / "rejected" / "huge.csv.reason.txt").read_text()
    assert "larger than the whole buffer" in reason
    drop(world, "small.csv", 5)  # a file that fits still goes through
    assert edge.step().ingested == 5
    edge.close()


def test_a_batch_the_cloud_refuses_is_set_aside_and_the_next_go_on(
        world: dict[str, object]) -> None:
    drop(world, "a.csv", 30)
    strict = CloudService(Path(str(world["dir"])) / "cloud", max_upload=1000)  # same cloud
    edge = agent(world, http=TestClient(strict.app()))
    report = edge.step()
    assert report.uploaded_rows == 0 and report.problem is not None
    assert "set aside" in report.problem
    [(key, reason)] = edge.buffer.quarantined().items()
    assert reason.startswith("TooLargeError") and edge.buffer.bytes > 0  # rows kept
    edge.close()
    strict.close()
    drop(world, "b.csv", 20, seed=1)
    edge = agent(world)
    assert edge.step().uploaded_rows == 20  # the next batch is not blocked
    assert cloud_rows(world) == [20] and list(edge.buffer.quarantined()) == [key]
    edge.close()


def test_alerts_follow_the_policy_signed_with_the_active_model(world: dict[str, object]) -> None:
    from hedge.wire.package import AlertPolicy

    schema: Schema = world["schema"]  # type: ignore[assignment]
    owner: SigningKey = world["owner"]  # type: ignore[assignment]
    key: bytes = world["key"]  # type: ignore[assignment]
    model = LinearModel(COLUMNS, 0.0, np.array([2.0, -1.0]), schema.to_dict())
    edge = agent(world)
    edge.models.install(build_package(model, site="plant-1", sequence=1, version=1,
                                      signing_key=owner, package_key=key))
    assert edge.models.alert is None  # the edge's own [alerts] setting applies
    edge.models.install(build_package(model, site="plant-1", sequence=2, version=2,
                                      signing_key=owner, package_key=key,
                                      alert=AlertPolicy(0.8, 0.2)))
    assert edge.models.alert == AlertPolicy(0.8, 0.2)
    edge.models.revert()
    assert edge.models.alert is None  # back with the last good model
    edge.close()


def test_rows_are_scored_against_the_active_models_signed_policy(
        world: dict[str, object]) -> None:
    from hedge.wire.package import AlertPolicy

    schema: Schema = world["schema"]  # type: ignore[assignment]
    owner: SigningKey = world["owner"]  # type: ignore[assignment]
    key: bytes = world["key"]  # type: ignore[assignment]
    p70 = LinearModel(COLUMNS, float(np.log(0.7 / 0.3)), np.zeros(2), schema.to_dict())
    edge = agent(world)
    edge.models.install(build_package(p70, site="plant-1", sequence=1, version=1,
                                      signing_key=owner, package_key=key))
    drop(world, "a.csv", 10)
    assert edge.ingest().alerts == 10  # the edge's own threshold, 0.5
    edge.models.install(build_package(p70, site="plant-1", sequence=2, version=2,
                                      signing_key=owner, package_key=key,
                                      alert=AlertPolicy(0.8, 0.2)))
    drop(world, "b.csv", 10, seed=1)
    assert edge.ingest().alerts == 10  # hysteresis: on until below 0.8 - 0.2
    edge.alerts = AlertTracker()  # a fresh start, e.g. after a restart
    drop(world, "c.csv", 10, seed=2)
    assert edge.ingest().alerts == 0  # 0.7 is under the signed threshold
    edge.close()


def test_the_risks_the_edge_publishes_reveal_its_model_to_whoever_sees_the_readings(
        world: dict[str, object]) -> None:
    # docs/security.md: the plant's broker and OPC UA server see readings and risks, so they
    # can recover a logistic model by regressing logit(risk) on the readings
    schema: Schema = world["schema"]  # type: ignore[assignment]
    secret = LinearModel(COLUMNS, 0.3, np.array([2.0, -1.0]), schema.to_dict())
    edge = agent(world)
    edge.models.install(build_package(secret, site="plant-1", sequence=1, version=1,
                                      signing_key=world["owner"],  # type: ignore[arg-type]
                                      package_key=world["key"]))  # type: ignore[arg-type]
    drop(world, "seen.csv", 10, seed=4)
    readings = pd.read_csv(Path(str(world["dir"])) / "incoming" / "seen.csv")
    assert edge.ingest().ingested == 10
    edge.close()
    lines = (Path(str(world["dir"])) / "data" / "predictions.jsonl").read_text().splitlines()
    risk = np.array([json.loads(line)["probability"] for line in lines])
    x = schema.features_matrix(readings)  # the scaling ships with the model, to every edge
    fitted, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(x)), x]),
                                 np.log(risk / (1 - risk)), rcond=None)
    np.testing.assert_allclose(fitted, [0.3, 2.0, -1.0], atol=1e-3)


def test_run_ingests_and_uploads_in_two_threads_until_stopped(world: dict[str, object]) -> None:
    drop(world, "a.csv", 30)
    edge = agent(world)
    stop = threading.Event()
    runner = threading.Thread(target=edge.run, args=(stop, 0.1))
    try:
        runner.start()
        deadline = time.monotonic() + 30
        while sum(cloud_rows(world)) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        drop(world, "b.csv", 20, seed=1)  # arriving while it runs
        while sum(cloud_rows(world)) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gc.get_freeze_count() > 0  # no full-collection pauses while it runs
        assert sorted(cloud_rows(world)) == [20, 30] and edge.buffer.pending() == 0
    finally:
        stop.set()
        runner.join(10)
        gc.unfreeze()
        edge.close()
    assert not runner.is_alive()


def test_rows_are_buffered_and_uploaded_with_their_window_features(
        world: dict[str, object]) -> None:
    folder = Path(str(world["dir"]))
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"temp": rng.uniform(300, 310, 50), "speed": rng.uniform(1200, 2800, 50),
                          "fail": rng.integers(0, 2, 50)})
    Schema.infer(frame, label="fail", windows=[Window("temp", 3, ("mean", "slope"))],
                 margin=0.5).save(folder / "schema.json")
    drop(world, "a.csv", 40)
    edge = agent(world)
    report = edge.step()
    edge.close()
    assert report.ingested == 40 and report.uploaded_rows == 40 and report.problem is None
    assert cloud_rows(world) == [40]


def test_rows_the_full_buffer_refused_enter_the_windows_once(world: dict[str, object]) -> None:
    folder = Path(str(world["dir"]))
    window = Window("temp", 3, ("mean",))
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"temp": rng.uniform(300, 310, 50), "speed": rng.uniform(1200, 2800, 50),
                          "fail": rng.integers(0, 2, 50)})
    Schema.infer(frame, label="fail", windows=[window], margin=0.5).save(folder / "schema.json")
    edge = agent(world)
    drop(world, "a.csv", 40)
    assert edge.ingest().ingested == 40
    drop(world, "b.csv", 30, seed=1)
    edge.buffer.max_bytes = edge.buffer.bytes + 100  # b fits the buffer, not beside a
    assert edge.ingest().buffer_full
    edge.buffer.max_bytes = 64 * 2**20
    assert edge.ingest().ingested == 30
    batch = edge.buffer.start_batch(1000)
    edge.close()
    assert batch is not None
    done = folder / "incoming" / "done"
    temps = [*pd.read_csv(done / "a.csv")["temp"], *pd.read_csv(done / "b.csv")["temp"]]
    expected = RollingWindows([window]).apply([{"temp": t} for t in temps], "files")
    assert [r["temp mean3"] for r in batch.rows] == pytest.approx(
        [r["temp mean3"] for r in expected])


def test_the_edge_refuses_a_bundle_other_than_its_enrolments_and_keeps_its_rows(
        world: dict[str, object], keys: KeySet) -> None:
    # docs/security.md: the bundle the cloud serves is loaded only under the enrolment's
    # fingerprint; a substituted one encrypts nothing and uploads nothing
    data = Path(str(world["dir"])) / "data"
    assert json.loads((Path(str(world["dir"])) / "site.json").read_text())["fingerprint"] == (
        keys.fingerprint)
    drop(world, "a.csv", 30)
    edge = agent(world)
    with serving_bundle_of(world, KeySet.generate("fast", rotations=[])):
        with pytest.raises(KeyMismatchError):
            edge.bundle()
        report = edge.step()
        assert report.ingested == 30 and report.uploaded_rows == 0
        assert report.problem is not None and report.problem.startswith("KeyMismatchError")
        assert cloud_rows(world) == []
        assert not (data / "public.bundle").exists()  # nothing of it kept for later
    batch = edge.buffer.open_batch()  # the rows wait in the buffer, not set aside
    assert batch is not None and len(batch.rows) == 30
    assert edge.buffer.quarantined() == {} and edge.buffer.bytes > 0
    # the genuine bundle served again: the same rows go up, once
    assert edge.step().uploaded_rows == 30 and cloud_rows(world) == [30]
    assert edge.bundle().fingerprint == keys.fingerprint
    edge.close()


class SequenceNoNumber(httpx.BaseTransport):
    """A cloud that answers the deployment poll with a sequence that is no number (a failing
    or hostile cloud), or, `broken`, a transport that fails below the client with an error
    that is none of hedge's or httpx's (a bug in a library); every other request goes to the
    real cloud app."""

    def __init__(self, service: CloudService, *, broken: bool = False) -> None:
        self.cloud = TestClient(service.app())
        self.broken = broken

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/deployments/latest"):
            if self.broken:
                raise RuntimeError("the transport broke: soon fixed")
            return httpx.Response(200, headers={"X-Hedge-Sequence": "soon"}, content=b"{}")
        answer = self.cloud.request(request.method, str(request.url), content=request.read(),
                                    headers=dict(request.headers))
        return httpx.Response(answer.status_code, headers=answer.headers,
                              content=answer.content)


def hostile(world: dict[str, object], *, broken: bool = True) -> httpx.Client:
    service = world["service"]
    assert isinstance(service, CloudService)
    return httpx.Client(transport=SequenceNoNumber(service, broken=broken),
                        base_url="http://testserver")


def test_a_deployment_without_a_sequence_number_is_a_clear_refusal(
        world: dict[str, object]) -> None:
    drop(world, "a.csv", 30)
    edge = agent(world, http=hostile(world, broken=False))
    report = edge.step()
    assert report.uploaded_rows == 30 and not report.failures
    assert report.problem is not None and report.problem.startswith("CorruptDataError")
    assert "X-Hedge-Sequence" in report.problem
    edge.close()


def test_a_part_that_fails_unexpectedly_fails_alone_and_the_report_says_which(
        world: dict[str, object], caplog: pytest.LogCaptureFixture) -> None:
    drop(world, "a.csv", 30)
    edge = agent(world, http=hostile(world))
    report = edge.step()
    assert report.ingested == 30 and report.uploaded_rows == 30 and cloud_rows(world) == [30]
    [failure] = report.failures
    assert failure.startswith("deployments: RuntimeError") and "soon" in failure
    logged = [r for r in caplog.records if r.exc_info and "deployments" in r.getMessage()]
    assert logged, "the failure is logged with its traceback"
    drop(world, "b.csv", 20, seed=1)
    again = edge.step()  # the next cycle goes on as well
    assert again.uploaded_rows == 20 and cloud_rows(world) == [30, 20]
    edge.close()


def test_the_long_running_agent_keeps_uploading_after_a_part_failed(
        world: dict[str, object]) -> None:
    drop(world, "a.csv", 30)
    edge = agent(world, http=hostile(world))  # every deployment poll fails
    stop = threading.Event()
    runner = threading.Thread(target=edge.run, args=(stop, 0.1))
    try:
        runner.start()
        deadline = time.monotonic() + 20
        while sum(cloud_rows(world)) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        drop(world, "b.csv", 20, seed=1)  # after the deployment part failed, many times
        while sum(cloud_rows(world)) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(cloud_rows(world)) == [20, 30] and edge.buffer.pending() == 0
    finally:
        stop.set()
        runner.join(10)
        gc.unfreeze()
        edge.close()
    assert not runner.is_alive()


class Unplugged:
    """An alert sink whose line to the machine is down."""

    def write(self, predictions: object) -> None:
        raise OSError("the alert line is down")


def test_a_sink_that_fails_stops_neither_the_other_sinks_nor_ingest_nor_uploads(
        world: dict[str, object]) -> None:
    schema: Schema = world["schema"]  # type: ignore[assignment]
    model = LinearModel(COLUMNS, 0.0, np.array([2.0, -1.0]), schema.to_dict())
    edge = agent(world)
    edge.models.install(build_package(model, site="plant-1", sequence=1, version=1,
                                      signing_key=world["owner"],  # type: ignore[arg-type]
                                      package_key=world["key"]))  # type: ignore[arg-type]
    edge.sinks.insert(0, Unplugged())  # before the predictions file
    drop(world, "a.csv", 10)
    drop(world, "b.csv", 15, seed=1)
    report = edge.step()
    assert report.ingested == 25 and report.uploaded_rows == 25
    assert len(report.failures) == 2  # once for each file's rows
    assert all(f.startswith("scoring: sink Unplugged: OSError") for f in report.failures)
    lines = (Path(str(world["dir"])) / "data" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 25  # the other sink got every prediction
    done = Path(str(world["dir"])) / "incoming" / "done"
    assert (done / "a.csv").exists() and (done / "b.csv").exists()
    edge.close()


@pytest.mark.parametrize("why", ["nested JSON", "no room for its file"])
def test_a_deployment_that_cannot_be_installed_is_refused_once_and_the_rest_goes_on(
        world: dict[str, object], why: str, caplog: pytest.LogCaptureFixture) -> None:
    schema: Schema = world["schema"]  # type: ignore[assignment]
    edge = agent(world)
    if why == "nested JSON":
        publish(world, 1, b"[" * 100_000 + b"]" * 100_000)
    else:  # a genuine package, but a folder stands where its model file goes
        model = LinearModel(COLUMNS, 0.0, np.array([2.0, -1.0]), schema.to_dict())
        publish(world, 1, build_package(model, site="plant-1", sequence=1, version=1,
                                        signing_key=world["owner"],  # type: ignore[arg-type]
                                        package_key=world["key"]))  # type: ignore[arg-type]
        (edge.models.folder / "model-1.json").mkdir()
    drop(world, "a.csv", 30)
    report = edge.step()
    assert report.ingested == 30 and report.uploaded_rows == 30
    assert report.refused is not None and edge.models.version is None
    assert edge.buffer.get("refused") == "1"
    said = [r for r in caplog.records if "deployment 1" in r.getMessage()]
    assert said and (why == "nested JSON" or said[0].exc_info), "logged (with the traceback "
    "of an exception other than a refusal)"
    drop(world, "b.csv", 20, seed=1)
    again = edge.step()  # not tried again
    assert again.uploaded_rows == 20 and again.refused is None and again.failures == []
    assert cloud_rows(world) == [30, 20]
    edge.close()


def test_a_batch_that_cannot_be_encrypted_is_set_aside_and_the_next_go_on(
        world: dict[str, object]) -> None:
    edge = agent(world)
    # a row buffered under a schema it no longer passes (the schema or hedge changed since)
    edge.buffer.add([{"temp": None, "speed": 2000.0, "fail": 0}])
    report = edge.step()
    assert report.uploaded_rows == 0 and report.problem is not None
    assert "set aside" in report.problem
    [(key, reason)] = edge.buffer.quarantined().items()
    assert reason.startswith("SchemaError") and "'temp'" in reason
    drop(world, "b.csv", 20, seed=1)
    assert edge.step().uploaded_rows == 20 and cloud_rows(world) == [20]
    assert list(edge.buffer.quarantined()) == [key]
    edge.close()


def test_a_file_that_breaks_the_schema_in_a_new_way_is_rejected_and_the_rest_goes_on(
        world: dict[str, object]) -> None:
    folder = Path(str(world["dir"])) / "incoming"
    folder.mkdir(exist_ok=True)
    (folder / "a.csv").write_text("temp,speed,fail\n305,2000,0\n306,2100,2\n")  # label 2
    (folder / "b.csv").write_text("temp,speed,fail\n305,2000,0\n1" + "0" * 400 + ",2100,1\n")
    drop(world, "c.csv", 20)
    edge = agent(world)
    report = edge.step()
    assert report.rejected == 4 and report.ingested == 20 and report.uploaded_rows == 20
    reason = (folder / "rejected" / "a.csv.reason.txt").read_text()
    assert "label 'fail': 1 of 2 rows hold [2], neither 0 nor 1" in reason
    assert "'temp' has non-numeric" in (folder / "rejected" / "b.csv.reason.txt").read_text()
    edge.close()


def test_a_model_with_implausible_weights_is_refused_and_the_active_one_stays(
        world: dict[str, object]) -> None:
    schema: Schema = world["schema"]  # type: ignore[assignment]

    def package(sequence: int, coef: list[float]) -> bytes:
        model = LinearModel(COLUMNS, 0.0, np.array(coef), schema.to_dict())
        return build_package(model, site="plant-1", sequence=sequence, version=sequence,
                             signing_key=world["owner"],  # type: ignore[arg-type]
                             package_key=world["key"])  # type: ignore[arg-type]

    edge = agent(world)
    publish(world, 1, package(1, [2.0, -1.0]))
    assert edge.step().installed == 1
    publish(world, 2, package(2, [1e308, 1e308]))  # finite, saturated probabilities
    report = edge.step()
    assert report.refused is not None and "margin bound" in report.refused
    assert edge.models.version == 1
    active = edge.models.active()
    assert active is not None and list(active.coef) == [2.0, -1.0]
    edge.close()
