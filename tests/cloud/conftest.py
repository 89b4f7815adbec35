"""A cloud service per test, on SQLite (always) and on the machine's PostgreSQL (when it is
reachable at 127.0.0.1:5432; otherwise those variants skip with the reason)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hedge.ckks import KeySet
from hedge.cloud import CloudService

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_database() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc}); the SQLite "
                    "variant of this test still runs")
    name = f"hedge_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None  # the embedded default: DIR/cloud.db
    else:
        yield from _postgres_database()


@pytest.fixture
def service(tmp_path: Path, db_url: str | None) -> Iterator[CloudService]:
    svc = CloudService(tmp_path / "cloud", db_url, max_upload=8 * 2**20)
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
