"""Jobs whose upload sets differ by a few rows are refused: the difference of their decrypted
results would give those rows (`hedge.cloud.differencing`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hedge.ckks import KeySet
from hedge.cloud import CloudService
from hedge.cloud.db import Upload
from hedge.cloud.differencing import too_close
from hedge.cloud.jobs import JobQueue

from .test_api import bearer, consortium, dataset, site


def upload(id_: int, rows: int, site_id: int = 1) -> Upload:
    return Upload(id=id_, consortium_id=1, site_id=site_id, idempotency_key=str(id_),
                  blob="0" * 64, rows=rows, size=1)


KNOWN = [upload(1, 50), upload(2, 1), upload(3, 30), upload(4, 5, site_id=2), upload(5, 25)]


@pytest.mark.parametrize(("mine", "theirs", "refused"), [
    ([1, 2], [1], "differ from those of job 7 in 1 rows (uploads [2])"),
    ([1], [1, 2], "in 1 rows (uploads [2])"),  # either way round
    ([1, 2], [1, 2], None),  # the same uploads: nothing to subtract
    ([1, 5], [1], None),  # 25 rows more: enough
    ([1, 3, 4], [1], "in 5 rows of one site (uploads [4])"),  # 35 rows, 5 of site 2
    ([1, 2], [3, 5], None),  # 106 rows apart, all of one site
    ([1, 3, 5], None, "in 5 rows of one site (uploads [4])"),  # an older job's "all": it
    ([1, 2], None, "in 1 rows (uploads [2])"),  # took the uploads there were then, any prefix
])
def test_a_difference_of_few_rows_in_all_or_per_site_is_refused(
        mine: list[int], theirs: list[int] | None, refused: str | None) -> None:
    by_id = {u.id: u for u in KNOWN}
    found = too_close([by_id[i] for i in mine], [(7, theirs)], KNOWN, 20)
    if refused is None:
        assert found is None
    else:
        assert found is not None and refused in found, found


def test_no_minimum_no_check() -> None:
    assert too_close([KNOWN[0]], [(7, [1, 2])], KNOWN, 0) is None


def test_the_cloud_refuses_a_job_that_differs_from_an_earlier_one_by_one_upload(
        tmp_path: Path, owner_keys: KeySet) -> None:
    """Preparation over a 50-row upload, then over it and a 1-row upload: the second would
    give the 1-row upload's statistics by difference, so it is refused, whatever its kind;
    naming the uploads "all" does the same, and the first job's own uploads are fixed when it
    is queued (an upload after it is not taken in)."""
    service = CloudService(tmp_path / "cloud", min_job_rows=20)
    client = TestClient(service.app())
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "p1")
    ids = []
    for key, rows in (("big", 50), ("one", 1)):
        body, _ = dataset(owner_keys, rows=rows, seed=rows)
        made = client.put(f"/v1/consortia/{cid}/uploads/{key}", content=body,
                          headers=bearer(token))
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    jobs = f"/v1/consortia/{cid}/jobs"
    first = client.post(jobs, json={"kind": "prepare", "uploads": [ids[0]]},
                        headers=bearer(owner))
    assert first.status_code == 201, first.text
    for spec in ({"kind": "prepare", "uploads": ids}, {"kind": "prepare"},
                 {"model": "ridge", "iterations": 1, "uploads": ids}):
        refused = client.post(jobs, json=spec, headers=bearer(owner))
        assert refused.status_code == 403, refused.text
        assert "in 1 rows" in refused.json()["detail"], refused.json()
    again = client.post(jobs, json={"kind": "prepare", "uploads": [ids[0]]},
                        headers=bearer(owner))
    assert again.status_code == 201  # the same uploads again: allowed
    stored = [j.spec["uploads"] for j in JobQueue(service.db).of_consortium(cid)]
    assert stored == [[ids[0]], [ids[0]]]
    service.close()


def test_the_same_uploads_are_evaluated_only_so_often(tmp_path: Path,
                                                      owner_keys: KeySet) -> None:
    """Each evaluation's model is the owner's choice: a steep one-feature model per threshold
    would read rows off the counts. After --max-evaluations jobs over the same uploads, the
    next is refused; other uploads are not affected."""
    import numpy as np

    from hedge.ml import EncryptedLinearModel, RowLayout

    service = CloudService(tmp_path / "cloud", min_job_rows=20, max_evaluations=2)
    client = TestClient(service.app())
    cid, owner = consortium(client, service, owner_keys)
    token = site(client, cid, owner, "p1")
    ids = [client.put(f"/v1/consortia/{cid}/uploads/{k}", content=dataset(
        owner_keys, rows=30, seed=i)[0], headers=bearer(token)).json()["id"]
           for i, k in enumerate(("a", "b"))]
    model = EncryptedLinearModel(owner_keys.public().encrypt(np.ones(4)), RowLayout(4, 4096),
                                 ["(bias)", "a", "b", "c"], "logistic")
    blob = client.put(f"/v1/consortia/{cid}/models", content=model.to_bytes(),
                      headers=bearer(owner)).json()["blob"]
    jobs = f"/v1/consortia/{cid}/jobs"

    def evaluate(uploads: list[int]) -> int:
        return client.post(jobs, json={"kind": "evaluate", "model_blob": blob,
                                       "uploads": uploads}, headers=bearer(owner)).status_code

    assert [evaluate([ids[0]]), evaluate([ids[0]])] == [201, 201]
    refused = client.post(jobs, json={"kind": "evaluate", "model_blob": blob,
                                      "uploads": [ids[0]]}, headers=bearer(owner))
    assert refused.status_code == 403 and "at most 2 over the same" in refused.json()["detail"]
    assert evaluate([ids[1]]) == 201  # another upload set
    service.close()

