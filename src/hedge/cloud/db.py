"""The cloud's metadata: SQLAlchemy models on SQLite (default: a file in the data directory) or
PostgreSQL (a URL). Ciphertexts never go into the database, only their blob hashes.

A database the cloud cannot use is refused when `Database` opens it, as a hedge error: a URL
that is malformed, names another database or a driver that is unknown, not installed or
asynchronous raises `ParameterError`; a database that cannot be reached, logged into or opened
raises `DatabaseUnavailableError`. Both messages say what to do and never show a password."""

from __future__ import annotations

import datetime as dt
import os
import re
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
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from hedge.errors import DatabaseUnavailableError, HedgeError, ParameterError
from hedge.files import private_file
from hedge.wire.protocol import MAX_ID

__all__ = ["CONNECT_TIMEOUT", "MAX_ID", "Base", "CoDecryption", "CoDecryptionAnswer",
           "Consortium", "Database",
           "DatabaseUnavailableError", "Deployment", "Job", "Site", "Token", "Upload",
           "database_url"]


#: Seconds a connection to PostgreSQL may take (unless the URL sets ``connect_timeout``): a
#: server that never answers is reported, not waited for.
CONNECT_TIMEOUT = 10
_FORMS = "use sqlite:///PATH or postgresql+psycopg://USER@HOST[:PORT]/DATABASE"


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
    # the same content is one upload of its consortium, whatever key it came under
    __table_args__ = (UniqueConstraint("site_id", "idempotency_key"),
                      UniqueConstraint("consortium_id", "blob"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortium.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    blob: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
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
    progress: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
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
    sequence: Mapped[int] = mapped_column(BigInteger)  # the owner's publication counter
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[dt.datetime] = mapped_column(default=_now)


class CoDecryption(Base):
    """A co-decryption request the owner posted for its holders (`hedge.cloud.routes_codecrypt`):
    its package's blob (the signed request and the ciphertexts, opaque to the cloud) and the
    holders it names."""

    __tablename__ = "codecryption"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the request's id
    consortium_id: Mapped[int] = mapped_column(ForeignKey("consortium.id"))
    holders: Mapped[str] = mapped_column(Text)  # JSON list of names
    message: Mapped[str] = mapped_column(Text)  # the signed request (JSON), for the record
    expires: Mapped[float] = mapped_column()
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[dt.datetime] = mapped_column(default=_now)


class CoDecryptionAnswer(Base):
    """One holder's answer to a co-decryption: its package's blob (sealed shares or a
    refusal)."""

    __tablename__ = "codecryption_answer"
    __table_args__ = (UniqueConstraint("request_id", "holder"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("codecryption.id"))
    holder: Mapped[str] = mapped_column(String(128))
    refused: Mapped[bool] = mapped_column(default=False)
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

    def __init__(self, url: str, *, connect_timeout: int = CONNECT_TIMEOUT) -> None:
        """`ParameterError` for a URL hedge cannot use, `DatabaseUnavailableError` for a
        database it cannot reach or open (see the module's documentation); `connect_timeout`:
        seconds a PostgreSQL connection may take unless the URL says otherwise."""
        self.url = url
        self.engine: Engine = _engine(url, connect_timeout)
        if self.engine.dialect.name == "sqlite":
            _private_sqlite(self.engine.url.database)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            Base.metadata.create_all(self.engine)
            _check_columns(self.engine)
        except DBAPIError as exc:
            self.engine.dispose()
            raise DatabaseUnavailableError(_unusable(self.engine.url, exc)) from exc
        except HedgeError:
            self.engine.dispose()
            raise
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

    def forget(self) -> None:
        """Make what rows lost unreadable in the database's files too, as far as the engine
        allows: SQLite overwrites deleted content (`secure_delete`), and a checkpoint here
        truncates its write-ahead log, which keeps earlier page images until then (best
        effort: a reader still open keeps some). PostgreSQL keeps old row versions until its
        vacuum, which its operator schedules."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str, connect_timeout: int) -> Engine:
    """An engine for a URL of a database and driver hedge supports, or `ParameterError`."""
    try:
        parsed = make_url(url)
        if parsed.port is not None and not 0 < parsed.port < 2**16:
            raise ValueError(f"port {parsed.port} is out of range")
    except (ArgumentError, ValueError) as exc:
        raise ParameterError(f"the database URL {_masked(url)} cannot be parsed ({exc}); "
                             f"{_FORMS}") from None
    shown = parsed.render_as_string(hide_password=True)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in ("sqlite", "postgresql"):
        raise ParameterError(f"unsupported database {backend!r} in {shown}: {_FORMS}")
    options = {}
    if backend == "postgresql" and "connect_timeout" not in parsed.query:
        options["connect_timeout"] = connect_timeout
    try:
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=options)
    except NoSuchModuleError:
        raise ParameterError(f"unknown database driver {driver!r} in {shown}: "
                             f"{_FORMS}") from None
    except ImportError as exc:
        raise ParameterError(f"the database driver {driver!r} of {shown} is not installed "
                             f"({exc}); {_FORMS} (psycopg comes with hedge)") from None
    if engine.dialect.is_async:
        engine.dispose()
        raise ParameterError(f"{driver!r} in {shown} is an asynchronous driver, the cloud needs "
                             f"a synchronous one: {_FORMS}")
    return engine


def _masked(url: str) -> str:
    """A URL that could not be parsed, with anything that looks like a password hidden."""
    return repr(re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url))


def _unusable(url: URL, exc: DBAPIError) -> str:
    """What went wrong opening the database at `url`, on one line, and what to do."""
    reason = " ".join(str(exc.orig if exc.orig is not None else exc).split())
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        advice = ("check that its directory exists and that this user may write there, or "
                  "choose another --data-dir")
    else:
        advice = ("check that PostgreSQL runs and accepts connections at that host and port "
                  "and that the user and the database exist, or leave out --db-url (and "
                  "HEDGE_CLOUD_DB) for SQLite in the data directory")
    return f"the cloud cannot use its database {shown}: {reason}; {advice}"


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


def _private_sqlite(database: str | None) -> None:
    """A SQLite database file, and the write-ahead log and index SQLite keeps beside it, are
    readable by their owner only (0600): created so before SQLite opens them (SQLite gives
    its -wal and -shm files the database file's mode), narrowed if they exist wider. Nothing
    for an in-memory database or a folder that does not exist (`Database` reports that)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            private_file(side)


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # what a row loses is overwritten, not kept
    cursor.close()
