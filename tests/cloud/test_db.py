"""The metadata database refuses, before serving anything, a schema older than this hedge's,
and a database it cannot use, with a hedge error that says what to do."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hedge.cloud.db import Consortium, Database, Job
from hedge.errors import DatabaseUnavailableError, HedgeError, ParameterError


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


def test_a_server_that_never_answers_is_given_up_on() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailableError, match="timeout") as info:
            Database(f"postgresql+psycopg://hedge:s3cret@127.0.0.1:{port}/test",
                     connect_timeout=1)
    assert time.monotonic() - began < 30
    assert "s3cret" not in str(info.value) and "hedge:***@" in str(info.value)


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql+psycopg_async://hedge@127.0.0.1/test", "asynchronous driver"),
    ("oracle://hedge@127.0.0.1/test", "unsupported database 'oracle'"),
    ("postgresql+psycopg://hedge:s3cret@127.0.0.1:99999999/test", "cannot be parsed"),
    ("", "cannot be parsed")])
def test_urls_hedge_cannot_use_are_parameter_errors(url: str, says: str) -> None:
    with pytest.raises(ParameterError, match=says) as info:
        Database(url)
    assert "s3cret" not in str(info.value)


def test_an_unusable_database_is_a_hedge_error_not_the_drivers(tmp_path: Path) -> None:
    with pytest.raises(HedgeError, match="directory exists") as info:
        Database(f"sqlite:///{tmp_path / 'missing' / 'cloud.db'}")
    assert isinstance(info.value, DatabaseUnavailableError)
