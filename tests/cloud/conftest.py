"""A cloud service per test, on SQLite (always) and on the machine's PostgreSQL (`db_url`, from
tests/conftest.py: those variants skip with the reason when 127.0.0.1:5432 is unreachable)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hedge.ckks import KeySet
from hedge.cloud import CloudService


@pytest.fixture
def service(tmp_path: Path, db_url: str | None) -> Iterator[CloudService]:
    # jobs over the tests' few rows, or none (the minimum has its own test)
    svc = CloudService(tmp_path / "cloud", db_url, max_upload=8 * 2**20, min_job_rows=0)
    yield svc
    svc.close()


@pytest.fixture
def client(service: CloudService) -> TestClient:
    return TestClient(service.app())


@pytest.fixture(scope="session")
def owner_keys() -> KeySet:
    return KeySet.generate("fast", rotations=[1])


@pytest.fixture(scope="session")
def stranger_keys() -> KeySet:
    return KeySet.generate("fast", rotations=[1])
