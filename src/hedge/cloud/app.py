"""The cloud service's HTTP API (FastAPI). OpenAPI at ``/docs`` and ``/openapi.json``.

Routes (``Authorization: Bearer <token>`` on all but ``/health``; roles in docs/pipeline.md):

* ``POST /v1/consortia?name=&owner_key=`` (admin) — body: the consortium's public bundle;
  answers the owner token;
* ``POST /v1/consortia/{cid}/sites`` (owner) — JSON ``{"name"}``; answers the site token;
  ``DELETE /v1/consortia/{cid}/sites/{name}/tokens`` (owner) — revoke the site's tokens;
* ``GET /v1/consortia/{cid}/bundle[?purpose=encrypt]`` (owner, sites) — the public bundle's
  bytes; for encryption only, without its Galois keys (a small fraction of the size);
* ``PUT /v1/consortia/{cid}/uploads/{key}`` (site) — body: an encrypted dataset, streamed; the
  idempotency key makes retries safe;
* ``GET /v1/consortia/{cid}/uploads`` (owner) — what the sites uploaded (metadata only);
* ``POST /v1/consortia/{cid}/jobs`` (owner) — JSON ``{"kind": "train", "model", "iterations",
  "uploads", "features"}``: queue a training job (refused, 400, if the uploads do not have the
  plan's ``features``), ``{"kind": "prepare", "uploads"}``: add the sites'
  encrypted per-class statistics, or ``{"kind": "evaluate", "model_blob", "uploads"}``: an
  evaluation of a model stored with ``PUT /v1/consortia/{cid}/models`` (body: the model,
  encrypted under the consortium's key set); ``GET .../jobs`` and ``GET .../jobs/{id}``: status
  and progress; ``GET .../jobs/{id}/result``: the encrypted model or evaluation (only the owner
  can decrypt it);
* ``PUT /v1/consortia/{cid}/sites/{name}/deployments/{sequence}`` (owner) — a model package for
  that site (signed, encrypted for the site: the cloud only relays it);
  ``GET /v1/consortia/{cid}/deployments/latest`` (site) — the newest package for the caller's
  own site (``X-Hedge-Sequence`` header), 404 before the first;
* ``/v1/consortia/{cid}/codecryptions...`` (owner, sites as key holders) — co-decryption
  requests and the holders' answers, relayed (`hedge.cloud.routes_codecrypt`).

A token of another consortium gets 404 for everything of this one (no existence oracle).
Every refusal (`hedge.wire.refusals`) is JSON ``{"detail", "error"}``: what went wrong and what to
do, and the hedge exception's name, which `hedge.wire.cloud_client` raises again. A missing, unknown
or revoked token is 401, another consortium 404, another role 403, an unknown upload, job,
model or site 404, a name or sequence taken 409 and a result not there yet 409, all
`PolicyError`; an invalid idempotency key 400 and a request FastAPI finds invalid 422,
`ParameterError`; the hedge errors of the checks by the parties' one table
(`hedge.wire.protocol.HTTP_STATUS`: `TooLargeError` 413, `SecretMaterialError` 422, other
`PolicyError` 403, `KeyMismatchError` 409, the others 400).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
import re
import threading
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hedge import __version__
from hedge.ckks import PublicBundle
from hedge.cloud import auth
from hedge.cloud.access import ConsortiumId, Who, member, site_named
from hedge.cloud.blobs import BlobStore, BlobWriter
from hedge.cloud.checks import no_keystore, parsed_dataset
from hedge.cloud.db import Consortium, Database, Site, Token, Upload
from hedge.cloud.routes_codecrypt import OWNER_HOLDER, add_codecrypt_routes
from hedge.cloud.routes_deploy import add_deployment_routes
from hedge.cloud.routes_jobs import add_job_routes
from hedge.cloud.sealing import Seal
from hedge.errors import (
    ParameterError,
    PolicyError,
    TooLargeError,
)
from hedge.wire.protocol import http_status
from hedge.wire.refusals import Refusal, add_refusal_handlers, refusal_response
from hedge.wire.signing import VerifyKey

__all__ = ["DEFAULT_MAX_EVALUATIONS", "DEFAULT_MAX_UPLOAD", "DEFAULT_MIN_JOB_ROWS",
           "NAME_PATTERN", "create_app"]

#: Default size limit of one upload (a dataset of a few hundred thousand rows at N=16384).
DEFAULT_MAX_UPLOAD = 2 * 2**30
#: jobs over fewer rows are refused (the owner decrypts what jobs compute)
DEFAULT_MIN_JOB_ROWS = 20
#: evaluation jobs over one upload set (the owner chooses each one's model)
DEFAULT_MAX_EVALUATIONS = 8
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # idempotency keys, whole string
#: Largest body of a JSON request (the streaming routes have their own limits).
MAX_JSON_BODY = 64 * 1024
_CACHED_BUNDLES = 8  # encryption bundles the API keeps to parse uploads (26 MB at standard)
_STREAMING = re.compile(
    r"^/v1/consortia(/\d+/((uploads|sites/[^/]+/deployments)/[^/]+|models|codecryptions"
    r"(/[0-9a-f]{32}/answers/[^/]+)?))?$")


class SiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="the site's name, unique in its "
                                                        "consortium")


class Created(BaseModel):
    id: int
    name: str
    token: str = Field(description="shown once: store it, the cloud keeps only its hash")


class UploadInfo(BaseModel):
    id: int
    site: str
    idempotency_key: str
    blob: str = Field(description="SHA-256 of the uploaded bytes")
    rows: int
    size: int
    replay: bool = Field(False, description="true if this key was uploaded before")


def create_app(db: Database, blobs: BlobStore, *, max_upload: int = DEFAULT_MAX_UPLOAD,
               key_services: tuple[str, ...] = (),
               min_job_rows: int = DEFAULT_MIN_JOB_ROWS, seal: Seal | None = None,
               max_evaluations: int = DEFAULT_MAX_EVALUATIONS) -> FastAPI:
    """The cloud's API over `db` and `blobs`. `key_services`: URL prefixes assisted-training
    jobs may name, `seal`: what seals their tokens in the database (assisted training needs
    both); `min_job_rows`, `max_evaluations`: see `hedge.cloud.routes_jobs`."""
    bundles: dict[int, PublicBundle] = {}
    parsing = threading.Semaphore(1)
    app = FastAPI(title="hedge cloud", version=__version__,
                  description="Stores ciphertexts from sites and runs jobs on them; holds no "
                              "secret key.")
    app.state.db = db

    @app.middleware("http")
    async def bounded_bodies(request: Request, call_next: Any) -> Any:
        """JSON routes read whole bodies before any token check: cap them by Content-Length
        (the streaming routes count their bytes themselves)."""
        if request.method in ("POST", "PUT", "PATCH") and not _STREAMING.match(
                request.url.path):
            length = request.headers.get("content-length")
            if length is None or not length.isdigit() or int(length) > MAX_JSON_BODY:
                return refusal_response(413, TooLargeError(
                    f"a JSON body needs a Content-Length of at most {MAX_JSON_BODY} bytes"))
        return await call_next(request)

    add_refusal_handlers(app, http_status)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/consortia", status_code=status.HTTP_201_CREATED)
    async def create_consortium(request: Request, who: Who,
                                name: Annotated[str, Query(pattern=NAME_PATTERN)],
                                owner_key: Annotated[str, Query(min_length=40, max_length=64)]
                                ) -> Created:
        if who.role != "admin":
            raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
                "only the cloud's admin token (admin.token in its data directory) creates "
                "consortia"))
        VerifyKey.from_str(owner_key)
        writer = await blobs.put_stream(no_keystore(request.stream()), max_upload)
        return await run_in_threadpool(_register, writer, name, owner_key)

    def _register(writer: BlobWriter, name: str, owner_key: str) -> Created:
        with writer:
            bundle = PublicBundle.load(writer.path)  # refuses secret material, corruption
            digest = writer.commit()
        edge_digest = blobs.put(bundle.for_encryption().to_bytes())
        try:  # the unique name: a second consortium of that name is a conflict
            with db.session() as s:
                row = Consortium(name=name, bundle=digest, edge_bundle=edge_digest,
                                 fingerprint=bundle.fingerprint, owner_key=owner_key)
                s.add(row)
                s.flush()
                token = auth.issue(s, "owner", row.id)
                return Created(id=row.id, name=name, token=token)
        except IntegrityError:
            raise Refusal(status.HTTP_409_CONFLICT, PolicyError(
                f"consortium {name!r} exists; choose another name")) from None

    @app.post("/v1/consortia/{cid}/sites", status_code=status.HTTP_201_CREATED)
    def add_site(cid: ConsortiumId, spec: SiteSpec, who: Who) -> Created:
        member(who, cid, "owner")
        if spec.name == OWNER_HOLDER:
            raise Refusal(status.HTTP_409_CONFLICT, PolicyError(
                f"the name {OWNER_HOLDER!r} stands for the owner among the key holders; "
                "choose another name for the site"))
        try:  # unique per consortium: a second site of that name is a conflict
            with db.session() as s:
                site = Site(consortium_id=cid, name=spec.name)
                s.add(site)
                s.flush()
                return Created(id=site.id, name=site.name,
                               token=auth.issue(s, "site", cid, site.id))
        except IntegrityError:
            raise Refusal(status.HTTP_409_CONFLICT, PolicyError(
                f"site {spec.name!r} exists in this consortium; choose another name")) from None

    @app.delete("/v1/consortia/{cid}/sites/{name}/tokens")
    def revoke_site(cid: ConsortiumId, name: str, who: Who) -> dict[str, int]:
        """Revoke the site's tokens (a lost enrolment file, a site that leaves): it can no
        longer upload or fetch anything; its uploads stay. Idempotent."""
        member(who, cid, "owner")
        with db.session() as s:
            site = site_named(s, cid, name)
            done = s.execute(update(Token).where(Token.site_id == site.id,
                                                 Token.revoked.is_(False)).values(revoked=True))
            return {"revoked": int(done.rowcount)}  # type: ignore[attr-defined]

    @app.get("/v1/consortia/{cid}/bundle")
    def bundle(cid: ConsortiumId, who: Who, purpose: Literal["evaluate", "encrypt"] = "evaluate"
               ) -> StreamingResponse:
        """The public bundle; `purpose=encrypt`: without Galois keys (what sites need)."""
        member(who, cid, "owner", "site")
        with db.session() as s:
            row = s.get(Consortium, cid)
            assert row is not None
        digest = row.edge_bundle if purpose == "encrypt" else row.bundle
        return StreamingResponse(blobs.iter_chunks(digest),
                                 media_type="application/octet-stream",
                                 headers={"X-Hedge-Fingerprint": row.fingerprint})

    @app.put("/v1/consortia/{cid}/uploads/{key}")
    async def upload(cid: ConsortiumId, key: str, request: Request, who: Who,
                     response: Response) -> UploadInfo:
        member(who, cid, "site")
        if not _KEY.fullmatch(key):
            raise Refusal(status.HTTP_400_BAD_REQUEST, ParameterError(
                "the idempotency key must be 1-128 letters, digits and ._-"))
        previous = await run_in_threadpool(_find_upload, who, key)
        if previous is not None:  # a retry: nothing is stored or counted again
            async for _ in request.stream():
                pass
            response.status_code = status.HTTP_200_OK
            return previous
        writer = await blobs.put_stream(no_keystore(request.stream()), max_upload)
        stored = await run_in_threadpool(_store_upload, who, key, writer)
        response.status_code = status.HTTP_200_OK if stored.replay else \
            status.HTTP_201_CREATED
        return stored

    def _find_upload(who: auth.Caller, key: str) -> UploadInfo | None:
        with db.session() as s:
            row = s.scalar(select(Upload).where(Upload.site_id == who.site_id,
                                                Upload.idempotency_key == key))
            return None if row is None else _info(s, row, replay=True)

    def _store_upload(who: auth.Caller, key: str, writer: BlobWriter) -> UploadInfo:
        """Parse the upload whole, then write its row and keep its blob in one transaction:
        an upload refused for any reason leaves neither (the row is flushed first, so a row
        the database refuses keeps no blob)."""
        assert who.consortium_id is not None and who.site_id is not None
        with writer:
            with parsing:  # one whole parse at a time: about 2.4 times an upload in memory
                rows = parsed_dataset(writer.path, edge_bundle(who.consortium_id)).rows
            try:
                with db.session() as s:  # the same content under another key: counted once
                    same = s.scalar(select(Upload).where(
                        Upload.consortium_id == who.consortium_id, Upload.blob == writer.digest))
                    if same is not None:
                        writer.abort()
                        return _info(s, same, replay=True)
                    row = Upload(consortium_id=who.consortium_id, site_id=who.site_id,
                                 idempotency_key=key, blob=writer.digest, rows=rows,
                                 size=writer.size)
                    s.add(row)
                    s.flush()
                    writer.commit()
                    return _info(s, row, replay=False)
            except IntegrityError:  # the same key, or the same content, raced in: it won
                writer.abort()
                again = _find_upload(who, key) or _same_content(who.consortium_id,
                                                                writer.digest)
                assert again is not None
                return again

    def _same_content(cid: int, digest: str) -> UploadInfo | None:
        with db.session() as s:
            row = s.scalar(select(Upload).where(Upload.consortium_id == cid,
                                                Upload.blob == digest))
            return None if row is None else _info(s, row, replay=True)

    def edge_bundle(cid: int) -> PublicBundle:
        """The consortium's encryption bundle (no Galois keys: enough to parse ciphertexts),
        loaded once per consortium and kept for the next uploads (a few at a time)."""
        if cid not in bundles:
            with db.session() as s:
                row = s.get(Consortium, cid)
                assert row is not None
                digest, fingerprint = row.edge_bundle, row.fingerprint
            if len(bundles) >= _CACHED_BUNDLES:
                bundles.clear()
            bundles[cid] = PublicBundle.from_bytes(blobs.read(digest),
                                                   expected_fingerprint=fingerprint)
        return bundles[cid]

    def _info(s: Any, row: Upload, *, replay: bool) -> UploadInfo:
        site = s.get(Site, row.site_id)
        return UploadInfo(id=row.id, site=site.name, idempotency_key=row.idempotency_key,
                          blob=row.blob, rows=row.rows, size=row.size, replay=replay)

    @app.get("/v1/consortia/{cid}/uploads")
    def uploads(cid: ConsortiumId, who: Who) -> list[UploadInfo]:
        member(who, cid, "owner")
        with db.session() as s:
            rows = s.scalars(select(Upload).where(Upload.consortium_id == cid)
                             .order_by(Upload.id)).all()
            return [_info(s, r, replay=False) for r in rows]

    add_job_routes(app, db, blobs, max_upload, key_services=key_services,
                   min_job_rows=min_job_rows, seal=seal, max_evaluations=max_evaluations)
    add_deployment_routes(app, db, blobs)
    add_codecrypt_routes(app, db, blobs)
    return app
