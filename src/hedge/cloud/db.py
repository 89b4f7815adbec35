"""The cloud's metadata: SQLAlchemy models on SQLite (default: a file in the data directory) or
PostgreSQL (a URL). Ciphertexts never go into the database, only their blob hashes."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from hedge.errors import ParameterError

__all__ = ["Base", "Consortium", "Database", "Deployment", "Job", "Site", "Token", "Upload",
           "database_url"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Consortium(Base):
    __tablename__ = "consortium"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    bundle: Mapped[str] = mapped_column(String(64))  # blob hash of the public bundle
    edge_bundle: Mapped[str] = mapped_column(String(64))  # the same without Galois keys
    fingerprint: Mapped[str] = mapped_column(String(128))
    owner_key: Mapped[str] = mapped_column(String(64))  # Ed25519 verify key, base64
    created: Mapped[dt.datetime] = mapped_column(default=_now)


class Site(Base):
    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("consortium_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortium.id"))
    name: Mapped[str] = mapped_column(String(128))
    created: Mapped[dt.datetime] = mapped_column(default=_now)


class Token(Base):
    __tablename__ = "token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the token
    role: Mapped[str] = mapped_column(String(16))  # admin | owner | site
    consortium_id: Mapped[int | None] = mapped_column(ForeignKey("consortium.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    revoked: Mapped[bool] = mapped_column(default=False)
    created: Mapped[dt.datetime] = mapped_column(default=_now)


class Upload(Base):
    __tablename__ = "upload"
    __table_args__ = (UniqueConstraint("site_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortium.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    blob: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[dt.datetime] = mapped_column(default=_now)


class Job(Base):
    """A unit of cloud work (training, evaluation) and its state; see `hedge.cloud.jobs`."""

    __tablename__ = "job"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortium.id"))
    kind: Mapped[str] = mapped_column(String(32))
    spec: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    checkpoint: Mapped[str | None] = mapped_column(String(64))  # blob: encrypted state
    checkpoint_step: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(String(64))  # blob: encrypted result
    compute_seconds: Mapped[float] = mapped_column(default=0.0)  # in the estimator
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(64))
    heartbeat: Mapped[dt.datetime | None] = mapped_column()
    created: Mapped[dt.datetime] = mapped_column(default=_now)
    updated: Mapped[dt.datetime] = mapped_column(default=_now, onupdate=_now)


class Deployment(Base):
    """A model package the owner published for one site (opaque to the cloud)."""

    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("site_id", "sequence"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortium.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    sequence: Mapped[int] = mapped_column(Integer)  # the owner's publication counter
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[dt.datetime] = mapped_column(default=_now)


def database_url(data_dir: str | os.PathLike[str], db_url: str | None) -> str:
    """`db_url`, or the embedded default: SQLite in `data_dir`/cloud.db."""
    return db_url or f"sqlite:///{Path(data_dir) / 'cloud.db'}"


class Database:
    """Engine and sessions for one database URL; creates the tables if they are missing and
    refuses to start on tables that lack columns this hedge needs (a database of an older
    hedge) before any request could fail on them."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("sqlite:", "postgresql")):
            raise ParameterError(f"unsupported database URL {url!r}: use sqlite:///PATH or "
                                 "postgresql+psycopg://USER@HOST/DB")
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if url.startswith("sqlite:"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _check_columns(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any exception."""
        with self._sessions() as s, s.begin():
            yield s

    def fingerprint(self, consortium_id: int) -> str:
        """The key-set fingerprint of a consortium (what its uploads must carry)."""
        with self.session() as s:
            row = s.get(Consortium, consortium_id)
            if row is None:
                raise ParameterError(f"no consortium {consortium_id}")
            return row.fingerprint

    def uploads(self, consortium_id: int, wanted: list[int] | None = None) -> list[Upload]:
        """The consortium's uploads by id (those in `wanted`, None: all); ids it does not
        have are left out."""
        with self.session() as s:
            query = select(Upload).where(Upload.consortium_id == consortium_id)
            if wanted is not None:
                query = query.where(Upload.id.in_(wanted))
            return list(s.scalars(query.order_by(Upload.id)).all())

    def dispose(self) -> None:
        self.engine.dispose()


def _check_columns(engine: Engine) -> None:
    found = inspect(engine)
    for table in Base.metadata.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in have]
        if missing:
            where = engine.url.render_as_string(hide_password=True)
            raise ParameterError(
                f"the cloud database {where} was created by an older hedge: table "
                f"{table.name!r} lacks {missing}. Nothing was changed; start this hedge on a new "
                "database (--db-url or another --data-dir), or keep running the hedge that "
                "created it")


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
