"""A cloud instance's files: its data directory, database, blobs, tokens and seal key are for
the cloud's user alone, however permissive the umask it starts under."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fastapi.testclient import TestClient

from hedge.ckks import KeySet
from hedge.cloud import CloudService

from .test_api import bearer, consortium, dataset, site


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_and_folder_of_the_cloud_is_private(tmp_path: Path,
                                                       owner_keys: KeySet) -> None:
    (tmp_path / "cloud").mkdir(mode=0o755)  # an operator's folder, wider than it should be
    previous = os.umask(0o022)
    try:
        service = CloudService(tmp_path / "cloud", min_job_rows=0)
        client = TestClient(service.app())
        cid, owner = consortium(client, service, owner_keys)
        body, _ = dataset(owner_keys)
        assert client.put(f"/v1/consortia/{cid}/uploads/u1", content=body,
                          headers=bearer(site(client, cid, owner, "p"))).status_code == 201
        root = tmp_path / "cloud"  # while the database is open: its write-ahead log exists
        files = {str(p.relative_to(root)): mode(p) for p in root.rglob("*") if p.is_file()}
        folders = {str(p.relative_to(root)): mode(p) for p in [root, *root.rglob("*")]
                   if p.is_dir()}
        service.close()
    finally:
        os.umask(previous)
    assert set(files) >= {"cloud.db", "cloud.db-wal", "admin.token", "seal.key"}
    assert {name: oct(m) for name, m in files.items() if m != 0o600} == {}
    assert {name: oct(m) for name, m in folders.items() if m != 0o700} == {}


def test_a_database_file_left_readable_is_narrowed_at_start(tmp_path: Path) -> None:
    root = tmp_path / "cloud"
    CloudService(root).close()
    for path in root.glob("cloud.db*"):
        path.chmod(0o644)
    CloudService(root).close()
    assert all(mode(p) == 0o600 for p in root.glob("cloud.db*"))
