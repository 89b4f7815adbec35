"""The owner checks a job's result before releasing it: a cloud that returns, as a model, a
vector cut from a site's upload, a result of another job or implausible values gets nothing
released, and the refusal is audited (`hedge.owner.plausibility`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import update

from hedge.audit import verify_log
from hedge.ckks import KeySet, PublicBundle
from hedge.cloud.blobs import BlobStore
from hedge.cloud.db import Database, Job, database_url
from hedge.errors import HedgeError, PolicyError
from hedge.ml import (
    EncryptedDataset,
    EncryptedLinearModel,
    EncryptedLogisticRegression,
    TrainingPlan,
)
from hedge.owner.plausibility import (
    check_model,
    check_statistics_counts,
    job_record,
)
from hedge.owner.workspace import OwnerWorkspace
from hedge.wire.cloud_client import CloudClient

from .test_workspace import PASSPHRASE, owner  # noqa: F401 - the fixture

COLUMNS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def fast() -> KeySet:
    return KeySet.generate("fast", rotations=None)


def _plan(features: int = 3) -> TrainingPlan:
    return TrainingPlan("logistic", features, 1000, "non-interactive", "fast", 1, 3, None, [],
                        0, 0.0, 0.0)


def _data(keys: KeySet, rows: int = 40) -> EncryptedDataset:
    x = np.random.default_rng(0).uniform(-1, 1, (rows, 3))
    return EncryptedDataset.encrypt(keys.public(), x, (x[:, 0] > 0).astype(float), COLUMNS)


RECORD = {"kind": "train", "model": "logistic", "iterations": 1, "assisted": False}


def test_a_trained_model_passes_and_a_cut_from_an_upload_does_not(fast: KeySet) -> None:
    data = _data(fast)
    trained = EncryptedLogisticRegression(iterations=1).fit(data)
    check_model(trained, RECORD, _plan(), fast.params.depth)
    block = data.doubled[0]  # row 0 of the upload: y'(1, x_0), shaped as a model
    cut = EncryptedLinearModel(block.head(4), data.layout, data.columns, tiled=block)
    with pytest.raises(PolicyError, match="at level 2, where this training leaves them at "
                                          "level 0"):
        check_model(cut, RECORD, _plan(), fast.params.depth)
    with pytest.raises(PolicyError, match="the plan 5"):
        check_model(trained, RECORD, _plan(5), fast.params.depth)
    with pytest.raises(PolicyError, match="the job trained ridge"):
        check_model(trained, {**RECORD, "model": "ridge"}, _plan(), fast.params.depth)
    lifted = EncryptedLinearModel(trained.weights, trained.layout, trained.columns,
                                  tiled=data.doubled[0])  # tiled weights from elsewhere
    with pytest.raises(PolicyError, match="tiled weights are not those"):
        check_model(lifted, RECORD, _plan(), fast.params.depth)


def test_only_jobs_this_owner_queued_of_the_kind_released() -> None:
    jobs = {"3": {"kind": "prepare"}}
    assert job_record(jobs, 3, "prepare") == {"kind": "prepare"}
    with pytest.raises(PolicyError, match="not queued from this owner directory"):
        job_record(jobs, 4, "prepare")
    with pytest.raises(PolicyError, match="a prepare job, not a train job"):
        job_record(jobs, 3, "train")


@pytest.mark.parametrize(("counts", "means", "refused"), [
    ([30.0, 20.0], [[0.1, -0.2]] * 2, None),
    ([30.3, 19.9], [[0.1, -0.2]] * 2, None),  # within the noise
    ([1.0, 0.0], [[0.1, -0.2]] * 2, "count 1.0 rows, the job's uploads hold 50"),
    ([30.0, 20.0], [[3.0, -0.2]] * 2, "outside the range"),
])
def test_statistics_must_count_the_job_s_rows_in_the_scaled_range(
        counts: list[float], means: list[list[float]], refused: str | None) -> None:
    stds = np.full((2, 2), 0.5)
    args = (np.array(counts), np.array(means), stds, 50, 0.1)
    if refused is None:
        check_statistics_counts(*args)
    else:
        with pytest.raises(PolicyError, match=refused):
            check_statistics_counts(*args)


def _site_upload(ws: OwnerWorkspace, plan: TrainingPlan, seed: int) -> EncryptedDataset:
    """One site enrolled and its 30 rows uploaded; the dataset it encrypted."""
    enrolment = json.loads(ws.add_site("plant-1").read_text())
    bundle = PublicBundle.load(ws.root / "public.bundle")
    x = np.random.default_rng(seed).uniform(-1, 1, (30, plan.features))
    data = EncryptedDataset.encrypt(bundle, x, (x[:, 0] > 0).astype(float), COLUMNS)
    with CloudClient(ws.identity["cloud"], enrolment["token"]) as site:
        site.upload(ws.consortium, "batch-1", data.to_bytes())
    return data


def _answer(ws: OwnerWorkspace, job: int, forged: bytes) -> None:
    """The cloud, as an attacker, marks `job` done with `forged` as its result."""
    cloud = ws.root.parent / "cloud"
    db = Database(database_url(cloud, None))
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job).values(
            status="done", result=BlobStore(cloud / "blobs").put(forged)))
    db.dispose()


def test_a_model_cut_from_a_site_s_upload_is_not_released(
        owner: tuple[OwnerWorkspace, TrainingPlan]) -> None:  # noqa: F811
    """The cloud plays the attacker: it answers a training job with a 'model' made of a
    site's first row and label. The owner refuses it before decrypting, and audits that."""
    ws, plan = owner
    data = _site_upload(ws, plan, seed=1)
    bundle = data.bundle
    job = ws.train(assisted=False)  # no workers: the malicious cloud answers it itself
    block = data.doubled[0]
    _answer(ws, job, EncryptedLinearModel(block.head(len(data.columns)), data.layout,
                                          data.columns, data.schema, tiled=block).to_bytes())
    with pytest.raises(PolicyError, match="not computed as the job says; not released"):
        ws.release(job, PASSPHRASE)
    [refusal] = [e for e in verify_log(ws.root / "audit.jsonl") if e.event == "refused"]
    assert refusal.job == f"job-{job}" and refusal.details["action"] == "release-model"
    assert not [e for e in verify_log(ws.root / "audit.jsonl") if e.event == "release-model"]
    with pytest.raises(PolicyError, match="not queued from this owner directory"):
        ws.release(job + 100, PASSPHRASE)

    # at the right depth, but weights no training gives: refused once decrypted, unreleased
    assisted = ws.train()
    level = EncryptedLogisticRegression(iterations=plan.iterations).weights_level(
        bundle.params.depth, refreshed=True)
    huge = EncryptedLinearModel(
        bundle.encrypt(np.full(4, 400.0), check_range=False).at_level(level), data.layout,
        data.columns, data.schema,
        tiled=bundle.encrypt(data.layout.tile(np.ones(4))).at_level(level + 1))
    _answer(ws, assisted, huge.to_bytes())
    with pytest.raises(PolicyError, match=r"margin bound .* is beyond 1000.*not released"):
        ws.release(assisted, PASSPHRASE)
    assert [e.details["action"] for e in verify_log(ws.root / "audit.jsonl")
            if e.event == "refused"] == ["release-model"] * 2


def test_an_early_release_leaves_a_running_job_s_budget_and_forged_evaluations_are_audited(
        owner: tuple[OwnerWorkspace, TrainingPlan]) -> None:  # noqa: F811
    """A release asked for before the job has a result cancels nothing at the key service
    (the job may still be refreshing); an evaluation the cloud forges is refused, before
    decryption when it states another margin bound than the owner encrypted the model with,
    after it when its sums are no counts, and every release it cost is in the audit log."""
    from hedge.audit import verify_log as log_of
    from hedge.ml import LinearModel
    from hedge.ml.confusion import EncryptedConfusion
    from hedge.ml.evaluation import EncryptedEvaluation
    from hedge.ml.sign_approximation import SignApproximation

    ws, plan = owner
    bundle = _site_upload(ws, plan, seed=2).bundle
    running = ws.train()  # assisted, queued: no worker takes it
    with pytest.raises(PolicyError, match="409"):
        ws.release(running, PASSPHRASE)
    assert not [e for e in log_of(ws.root / "keyservice-audit.jsonl") if e.event == "cancel"]

    model = LinearModel(COLUMNS, 0.2, np.array([1.0, -0.5, 0.25]))

    approximation = SignApproximation.for_levels(6)
    sums = bundle.encrypt(np.full(5, 100.0), check_range=False)  # no counts of 30 rows
    for bound, says in ((7.0, "states the margin bound 7"), (model.margin_bound(),
                                                             "are not counts of 30 rows")):
        job = ws.evaluate(model)
        _answer(ws, job, EncryptedEvaluation(bundle.encrypt(np.array([3.0])), EncryptedConfusion(
            sums, 30, 4, approximation, bound)).to_bytes())
        with pytest.raises(HedgeError, match=says):
            ws.release_evaluation(job, PASSPHRASE)
    events = [(e.event, e.details.get("action")) for e in log_of(ws.root / "audit.jsonl")]
    assert events == [("refused", "release-evaluation"),  # before decryption: no release
                      ("release-counted", "release-evaluation"),  # the squared errors
                      ("release-counted", "release-evaluation"),  # the confusion sums
                      ("refused", "release-evaluation")]
