"""Shared fixtures: small presets so that the suite stays fast; `db_url` runs a cloud test on
SQLite and on the machine's PostgreSQL (a fresh database per test; skipped with the reason when
127.0.0.1:5432 is unreachable)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from hedge.ckks import KeySet, PublicBundle
from hedge.data import datasets_dir
from hedge.errors import DatasetNotFoundError

settings.register_profile(
    "hedge",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("hedge")

#: Largest absolute error accepted for depth <= 3 operations on values in [-1, 1] (fast preset:
#: fresh error ~1e-8, rotations ~5e-8; sums over many slots accumulate, hence the margin).
TOL = 1e-5


@pytest.fixture(scope="session")
def keys() -> KeySet:
    """Fast preset (N=8192, depth 3) with the default power-of-two rotation keys."""
    return KeySet.generate("fast")


@pytest.fixture(scope="session")
def bundle(keys: KeySet) -> PublicBundle:
    return keys.public()


@pytest.fixture(scope="session")
def other_keys() -> KeySet:
    """A second, unrelated key set with the same parameters (for mismatch tests)."""
    return KeySet.generate("fast", rotations=[1])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked `datasets` when the public datasets are not beside the checkout."""
    try:
        datasets_dir()
    except DatasetNotFoundError as exc:
        skip = pytest.mark.skip(reason=f"public datasets not available: {exc}")
        for item in items:
            if "datasets" in item.keywords:
                item.add_marker(skip)


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
