"""Owner-assisted training as a cloud job: `hedge cloud serve` and `hedge owner key-service` as
real processes, the owner's workspace registering the job, the cloud's worker refreshing through
the key service, the owner releasing a model as good as plaintext training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from hedge.audit import verify_log
from hedge.ckks import PublicBundle
from hedge.data import Schema, load_idash
from hedge.errors import ParameterError
from hedge.ml import EncryptedDataset, plan_training
from hedge.owner.workspace import OwnerWorkspace
from hedge.services import CloudProcess, KeyServiceProcess
from hedge.wire.cloud_client import CloudClient
from hedge.wire.protocol import MAX_JOB_ATTEMPTS

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

PASSPHRASE = "a long test passphrase"


def test_assisted_training_runs_in_the_cloud_with_the_owners_key_service(tmp_path: Path) -> None:
    frame = load_idash("edin")
    schema = Schema.infer(frame, label="y")
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    plan = plan_training("logistic", x.shape[1], 2000, "assisted")
    assert plan.mode == "assisted" and plan.iterations == 4
    keys_proc = KeyServiceProcess(tmp_path / "owner", PASSPHRASE, log=tmp_path / "keys.log")
    cloud = CloudProcess(tmp_path / "cloud", ["--workers", "1", "--key-service", keys_proc.url],
                         log=tmp_path / "cloud.log")
    cloud.start()
    try:
        ws = OwnerWorkspace.create(tmp_path / "owner", plan, cloud=cloud.url,
                                   admin_token=(cloud.data_dir / "admin.token").read_text()
                                   .strip(), name="edin", passphrase=PASSPHRASE)
        with pytest.raises(ParameterError, match="owner key-service"):
            ws.train()  # the plan is assisted, and no key service runs yet
        bundle = PublicBundle.load(tmp_path / "owner" / "public.bundle")
        for name, rows in (("a", slice(0, 600)), ("b", slice(600, None))):
            enrolment = json.loads(ws.add_site(name).read_text())
            site = CloudClient(cloud.url, enrolment["token"])
            data = EncryptedDataset.encrypt(bundle, x[rows], y[rows], schema.columns)
            site.upload(ws.consortium, f"{name}-1", data.to_bytes())
            site.close()

        keys_proc.start()
        ws = OwnerWorkspace.open(tmp_path / "owner")
        assert ws.state["key_service"] == keys_proc.url
        job = ws.train()  # registers a job at the key service, then queues the cloud job
        state = ws.wait(job, poll=0.5)
        assert state["status"] == "done"
        model = ws.release(job, PASSPHRASE)
        assert roc_auc_score(y, model.predict_proba(x)) > 0.94
        log = tmp_path / "owner" / "keyservice-audit.jsonl"
        refreshes = [e for e in verify_log(log) if e.event == "refresh"]
        assert len(refreshes) == 2  # 4 iterations: refreshed before iterations 3 and 4
        # the ended job's budget is cancelled: its token (the cloud held it) reaches nothing
        [ended] = [e for e in verify_log(log) if e.event == "cancel"]
        assert ended.job == refreshes[0].job
        assert ended.details == {"used": 2, "max_refreshes": 4 + MAX_JOB_ATTEMPTS}
        assert ws.key_service_tokens()[0] not in (cloud.data_dir / "cloud.db").read_text(
            errors="replace")  # the cloud never had the service's refresh token

        # a job the cloud refuses leaves no refresh budget at the key service
        with pytest.raises(ParameterError, match="only logistic regression"):
            ws.train("ridge", assisted=True)
        refused = [e for e in verify_log(log) if e.event == "cancel"][1:]
        assert len(refused) == 1 and refused[0].details == {"used": 0, "max_refreshes": 4
                                                            + MAX_JOB_ATTEMPTS}

        # a job naming a key-service job that does not exist fails with the reason
        token, _ = ws.key_service_tokens()
        with ws.client() as client:
            bad = client.submit_job(ws.consortium, {
                "model": "logistic", "iterations": 4,
                "key_service": {"url": ws.state["key_service"], "job": "nope", "token": token}})
        with pytest.raises(ParameterError, match="404"):
            ws.wait(int(bad["id"]), poll=0.5)
    finally:
        keys_proc.stop()
        cloud.stop()
