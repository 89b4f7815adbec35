"""OwnerWorkspace: changes to its state file from several processes are serialised, none lost;
a training job the cloud refuses leaves no refresh budget at the key service."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hedge.audit import AuditEntry, verify_log
from hedge.ckks import PublicBundle
from hedge.errors import ParameterError, PolicyError, SchemaError
from hedge.files import read_json, write_json
from hedge.ml import EncryptedDataset, TrainingPlan, plan_training
from hedge.owner.workspace import OwnerWorkspace, _cancel
from hedge.services import CloudProcess, KeyServiceProcess
from hedge.wire.cloud_client import CloudClient
from hedge.wire.keyservice_client import HttpRefreshClient
from hedge.wire.protocol import MAX_JOB_ATTEMPTS

PASSPHRASE = "a long test passphrase"

STATE = {"version": 1, "cloud": "https://cloud.example", "consortium": 1, "name": "acme",
         "fingerprint": "f" * 64, "owner_key": "k", "sites": [], "deployments": {},
         "next_version": 1}


def test_a_change_waits_for_another_says_so_and_keeps_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_json(tmp_path / "owner.json", STATE)
    # two processes' views, opened before either changes anything (the key service and a
    # command in another terminal)
    first, second = OwnerWorkspace.open(tmp_path), OwnerWorkspace.open(tmp_path)
    url = "https://keys.example:8765"
    with caplog.at_level(logging.WARNING), first._editing() as state:
        state["sites"].append("plant-a")
        other = threading.Thread(target=second.set_key_service, args=(url,))
        other.start()
        other.join(0.5)
        assert other.is_alive()  # waits for the lock
        assert "another owner command is changing owner.json; waiting for it" in caplog.text
    other.join(10)
    on_disk = read_json(tmp_path / "owner.json", "state")
    assert on_disk["sites"] == ["plant-a"] and on_disk["key_service"] == url
    assert second.state == on_disk and first.state["sites"] == ["plant-a"]


def test_a_change_that_fails_writes_nothing(tmp_path: Path) -> None:
    write_json(tmp_path / "owner.json", STATE)
    ws = OwnerWorkspace.open(tmp_path)
    with pytest.raises(RuntimeError), ws._editing() as state:
        state["next_version"] = 99
        raise RuntimeError("publication failed")
    assert read_json(tmp_path / "owner.json", "state")["next_version"] == 1


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[tuple[OwnerWorkspace, TrainingPlan]]:
    """An owner with an assisted plan for 3 features, its consortium at a real cloud (no
    workers, no row minimum) and its key service running, both as processes."""
    plan = plan_training("logistic", 3, 500, "assisted")
    keys = KeyServiceProcess(tmp_path / "owner", PASSPHRASE)
    cloud = CloudProcess(tmp_path / "cloud", ["--workers", "0", "--min-job-rows", "0",
                                              "--key-service", keys.url])
    cloud.start()
    try:
        OwnerWorkspace.create(tmp_path / "owner", plan, cloud=cloud.url, name="acme",
                              admin_token=(cloud.data_dir / "admin.token").read_text().strip(),
                              passphrase=PASSPHRASE)
        keys.start()
        yield OwnerWorkspace.open(tmp_path / "owner"), plan
    finally:
        keys.stop()
        cloud.stop()


def key_service_jobs(ws: OwnerWorkspace, event: str) -> list[AuditEntry]:
    """The key service's audit entries of `event` (register, cancel) for the owner `ws`."""
    return [e for e in verify_log(ws.root / "keyservice-audit.jsonl") if e.event == event]


def test_a_job_the_cloud_refuses_is_cancelled_at_the_key_service(
        owner: tuple[OwnerWorkspace, TrainingPlan]) -> None:
    ws, plan = owner
    with pytest.raises(ParameterError, match="only logistic regression") as refused:
        ws.train("ridge", assisted=True)  # a job the cloud refuses at submission
    assert not getattr(refused.value, "__notes__", None)
    registered, cancelled = key_service_jobs(ws, "register"), key_service_jobs(ws, "cancel")
    assert len(registered) == 1 and [e.job for e in cancelled] == [registered[0].job]
    assert cancelled[0].details == {"used": 0, "max_refreshes": plan.iterations
                                    + MAX_JOB_ATTEMPTS}


def test_a_plan_that_does_not_fit_the_uploads_schema_is_refused_before_any_job(
        owner: tuple[OwnerWorkspace, TrainingPlan]) -> None:
    """The owner's plan says 3 features, the site's schema made 4: `train` is refused when the
    cloud first sees both, with both counts, and leaves no job and no refresh budget."""
    ws, _ = owner
    enrolment = read_json(ws.add_site("plant-1"), "enrolment")
    x = np.random.default_rng(0).uniform(-1, 1, (30, 4))
    data = EncryptedDataset.encrypt(PublicBundle.load(ws.root / "public.bundle"), x,
                                    (x[:, 0] > 0).astype(float), ["a", "b", "c", "d"])
    with CloudClient(ws.identity["cloud"], enrolment["token"]) as edge:
        edge.upload(ws.consortium, "batch-1", data.to_bytes())
    for assisted in (True, False):
        with pytest.raises(SchemaError, match=r"plan is for 3 features.*has 4") as refused:
            ws.train(assisted=assisted)
        assert "--features 4" in str(refused.value)
    with ws.client() as client:
        assert client.jobs(ws.consortium) == []
    registered = [e.job for e in key_service_jobs(ws, "register")]
    assert len(registered) == 1 and [e.job for e in key_service_jobs(ws, "cancel")] == registered


def test_a_cancellation_that_fails_keeps_the_refusal_and_notes_the_open_job() -> None:
    refused = PolicyError("the cloud refused the job")
    with HttpRefreshClient("http://127.0.0.1:9", "t" * 32, timeout=2) as service:
        _cancel(service, "c1-job", refused)
    [note] = refused.__notes__
    assert note.startswith("the key-service job c1-job could not be cancelled (the key service "
                           "at http://127.0.0.1:9 cannot be reached")
    assert note.endswith("its refresh budget stays until it is")
