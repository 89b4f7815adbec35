"""One cloud instance: its data directory, database, blob store and admin token."""

from __future__ import annotations

import os

from fastapi import FastAPI
from sqlalchemy import select

from hedge.cloud import auth
from hedge.cloud.app import (
    DEFAULT_MAX_EVALUATIONS,
    DEFAULT_MAX_UPLOAD,
    DEFAULT_MIN_JOB_ROWS,
    create_app,
)
from hedge.cloud.blobs import BlobStore
from hedge.cloud.db import Database, Token, database_url
from hedge.cloud.sealing import Seal
from hedge.files import private_dir, write_atomic

__all__ = ["CloudService"]


class CloudService:
    """`data_dir`/cloud.db (unless `db_url` names another database), `data_dir`/blobs/,
    `data_dir`/admin.token (the token that creates consortia) and `data_dir`/seal.key (seals
    key-service tokens in job rows, `hedge.cloud.sealing`), created on first start; the
    directory, its files and folders are for the cloud's user alone (0700, 0600). Restarting
    keeps everything."""

    def __init__(self, data_dir: str | os.PathLike[str], db_url: str | None = None, *,
                 max_upload: int = DEFAULT_MAX_UPLOAD,
                 key_services: tuple[str, ...] = (),
                 min_job_rows: int = DEFAULT_MIN_JOB_ROWS,
                 max_evaluations: int = DEFAULT_MAX_EVALUATIONS) -> None:
        """`key_services`: URL prefixes of owners' key services that assisted-training jobs
        may name (the workers connect there); without any, no assisted training.
        `min_job_rows`: jobs over fewer rows are refused (the owner decrypts what jobs
        compute; a floor against small releases by mistake). `max_evaluations`: evaluation
        jobs over one upload set."""
        self.data_dir = private_dir(data_dir)
        self.db = Database(database_url(self.data_dir, db_url))
        self.seal = Seal(self.data_dir)
        self.blobs = BlobStore(self.data_dir / "blobs", clean=True)
        self.max_upload, self.key_services = max_upload, key_services
        self.min_job_rows, self.max_evaluations = min_job_rows, max_evaluations
        self.admin_token_path = self.data_dir / "admin.token"
        self._ensure_admin_token()

    def _ensure_admin_token(self) -> None:
        with self.db.session() as s:
            known = self.admin_token_path.exists() and auth.resolve(
                s, self.admin_token_path.read_text().strip()) is not None
            if known:
                return
            for old in s.scalars(select(Token).where(Token.role == "admin")):
                old.revoked = True  # a lost token file: the old admin tokens stop working
            token = auth.issue(s, "admin")
        write_atomic(self.admin_token_path, (token + "\n").encode())

    @property
    def admin_token(self) -> str:
        return self.admin_token_path.read_text().strip()

    def app(self) -> FastAPI:
        return create_app(self.db, self.blobs, max_upload=self.max_upload,
                          key_services=self.key_services, min_job_rows=self.min_job_rows,
                          seal=self.seal, max_evaluations=self.max_evaluations)

    def close(self) -> None:
        self.db.dispose()
