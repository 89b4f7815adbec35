"""Deployment routes of the cloud API: the owner publishes a package per site, a site fetches
its own newest one. Packages are signed and encrypted for their site: the cloud only relays."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from hedge.cloud.access import ConsortiumId, Who, member, site_named
from hedge.cloud.blobs import BlobStore, BlobWriter
from hedge.cloud.checks import no_keystore
from hedge.cloud.db import MAX_ID, Database, Deployment
from hedge.errors import PolicyError
from hedge.wire.refusals import Refusal

__all__ = ["MAX_PACKAGE", "add_deployment_routes"]

MAX_PACKAGE = 16 * 2**20  # a model package is a few kilobytes
Sequence = Annotated[int, Path(ge=1, le=MAX_ID, description="the owner's publication counter "
                                                            "for the site")]


def add_deployment_routes(app: FastAPI, db: Database, blobs: BlobStore) -> None:
    @app.put("/v1/consortia/{cid}/sites/{name}/deployments/{sequence}")
    async def publish(cid: ConsortiumId, name: str, sequence: Sequence, request: Request,
                      who: Who, response: Response) -> dict[str, Any]:
        member(who, cid, "owner")
        writer = await blobs.put_stream(no_keystore(request.stream()), MAX_PACKAGE)
        return await run_in_threadpool(_publish, cid, name, sequence, writer, response)

    def _publish(cid: int, name: str, sequence: int, writer: BlobWriter,
                 response: Response) -> dict[str, Any]:
        size, digest = writer.size, writer.digest
        with writer, db.session() as s:  # refusals leave no blob behind
            site = site_named(s, cid, name)
            old = s.scalar(select(Deployment).where(Deployment.site_id == site.id,
                                                    Deployment.sequence == sequence))
            if old is not None and old.blob != digest:
                raise Refusal(status.HTTP_409_CONFLICT, PolicyError(
                    f"sequence {sequence} of {name!r} holds another package; use the next "
                    "number"))
            if old is None:  # the row first: one the database refuses keeps no blob
                s.add(Deployment(consortium_id=cid, site_id=site.id, sequence=sequence,
                                 blob=digest, size=size))
                s.flush()
            writer.commit()
            response.status_code = status.HTTP_200_OK if old else status.HTTP_201_CREATED
        return {"site": name, "sequence": sequence, "blob": digest, "size": size}

    @app.get("/v1/consortia/{cid}/deployments/latest")
    def latest(cid: ConsortiumId, who: Who) -> StreamingResponse:
        member(who, cid, "site")
        with db.session() as s:
            row = s.scalar(select(Deployment).where(Deployment.site_id == who.site_id)
                           .order_by(Deployment.sequence.desc()).limit(1))
            if row is None:
                raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
                    "nothing deployed yet to this site; the owner deploys a model with "
                    "`hedge owner deploy`"))
            digest, sequence = row.blob, row.sequence
        return StreamingResponse(blobs.iter_chunks(digest), media_type="application/json",
                                 headers={"X-Hedge-Sequence": str(sequence)})

