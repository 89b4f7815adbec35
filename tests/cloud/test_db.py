"""The metadata database refuses, before serving anything, a schema older than this hedge's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hedge.cloud.db import Consortium, Database, Job
from hedge.errors import ParameterError


def test_a_database_of_an_older_hedge_is_refused_untouched(tmp_path: Path,
                                                           db_url: str | None) -> None:
    url = db_url or f"sqlite:///{tmp_path / 'cloud.db'}"
    db = Database(url)
    with db.session() as s:
        consortium = Consortium(name="c", bundle="0" * 64, edge_bundle="0" * 64,
                                fingerprint="f", owner_key="k")
        s.add(consortium)
        s.flush()
        s.add(Job(consortium_id=consortium.id, kind="train", spec="{}", total=1))
    with db.engine.begin() as connection:  # the job table as an older hedge made it
        connection.execute(text("ALTER TABLE job DROP COLUMN compute_seconds"))
    db.dispose()
    with pytest.raises(ParameterError,
                       match=r"older hedge: table 'job' lacks \['compute_seconds'\]"):
        Database(url)
    engine = create_engine(url)  # nothing was changed: the job is still there
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM job")).scalar() == 1
    engine.dispose()
