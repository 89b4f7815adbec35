"""Co-decryption routes: the owner posts a request for its key holders, each holder (a site, or
the owner itself as holder "owner") pulls what waits for it and puts its answer, the owner
reads the answers. The cloud relays packages whose shares it cannot open (`hedge.wire.relay`)
and checks what it can before it keeps anything: the owner's signature (the key the consortium
was created with), the consortium's key fingerprint, the ciphertexts against their digests, that
the holders named are the owner or sites of the consortium, that the request asks for a
finished job's result and covers that job's uploads (`hedge.cloud.result_binding`), and that an
answer comes from a holder the request names, for that request and its ciphertexts.

* ``POST /v1/consortia/{cid}/codecryptions`` (owner): a request package; 201 (200 for the same
  package again, 409 for another under the same request id).
* ``GET /v1/consortia/{cid}/codecryptions/pending`` (owner or site): the ids of the unexpired
  requests that name the caller and that it has not answered; ``.../answered``: the signed
  messages of the requests some holder answered (the holders' shared record: with a key dealt
  t-of-n, no holder sees every request, and each compares a new one against these).
* ``GET /v1/consortia/{cid}/codecryptions/{rid}/package`` (a holder it names): the package.
* ``PUT /v1/consortia/{cid}/codecryptions/{rid}/answers/{holder}`` (that holder): its answer
  package (200 for the same again, 409 for another).
* ``GET /v1/consortia/{cid}/codecryptions/{rid}`` (owner): who answered, who refused (with the
  reason) and who is missing; ``.../answers/{holder}`` (owner): that answer's package.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
import json
import time
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hedge.cloud.access import ConsortiumId, Who, member
from hedge.cloud.blobs import BlobStore, BlobWriter
from hedge.cloud.db import CoDecryption, CoDecryptionAnswer, Consortium, Database, Site
from hedge.cloud.result_binding import check_binding
from hedge.errors import CorruptDataError, KeyMismatchError, PolicyError
from hedge.wire.refusals import Refusal
from hedge.wire.relay import MAX_PACKAGE, Answer, RequestPackage
from hedge.wire.requests import CoDecryptionRequest
from hedge.wire.signing import VerifyKey

__all__ = ["OWNER_HOLDER", "add_codecrypt_routes"]

RequestId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the request's id")]
HolderName = Annotated[str, Path(min_length=1, max_length=128)]
#: The owner's name among the key holders (no site may take it, `hedge.cloud.app`).
OWNER_HOLDER = "owner"
_PENDING_LIMIT = 256


def _conflict(message: str) -> Refusal:
    return Refusal(status.HTTP_409_CONFLICT, PolicyError(message))


def _flush(s: Session, raced: str) -> None:
    """Write the new row now: one written meanwhile by a request like this one (the unique
    constraint) is a 409 that says to try again, not a 500."""
    try:
        s.flush()
    except IntegrityError:
        raise _conflict(raced) from None


def _holder_name(s: Session, who: Any) -> str:
    if who.role == "owner":
        return OWNER_HOLDER
    site = s.get(Site, who.site_id)
    assert site is not None  # a site token always has its site
    if site.name == OWNER_HOLDER:  # enrolled before the name was reserved
        raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
            f"a site named {OWNER_HOLDER!r} cannot be a key holder: the name is the owner's"))
    return site.name


def _row(s: Session, cid: int, rid: str) -> CoDecryption:
    row = s.get(CoDecryption, rid)
    if row is None or row.consortium_id != cid:
        raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
            f"no co-decryption request {rid} in this consortium"))
    return row


def _named(row: CoDecryption, holder: str) -> None:
    if holder not in json.loads(row.holders):
        raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
            f"co-decryption request {row.id} does not name {holder} among its holders"))


def add_codecrypt_routes(app: FastAPI, db: Database, blobs: BlobStore) -> None:
    base = "/v1/consortia/{cid}/codecryptions"

    @app.post(base)
    async def post_request(cid: ConsortiumId, request: Request, who: Who,
                           response: Response) -> dict[str, Any]:
        member(who, cid, "owner")
        writer = await blobs.put_stream(request.stream(), MAX_PACKAGE)
        return await run_in_threadpool(_post, cid, writer, response)

    def _post(cid: int, writer: BlobWriter, response: Response) -> dict[str, Any]:
        with writer, db.session() as s:  # refusals leave no blob behind
            package = RequestPackage.from_bytes(writer.path.read_bytes())
            consortium = s.get(Consortium, cid)
            assert consortium is not None  # member() checked it
            req = CoDecryptionRequest.verify(package.message,
                                             VerifyKey.from_str(consortium.owner_key))
            if req.consortium != consortium.fingerprint:
                raise KeyMismatchError(f"request {req.request} is for the key "
                                       f"{req.consortium[:12]}…, not this consortium's")
            if req.holders is None:
                raise CorruptDataError(f"request {req.request} names no holders; the cloud "
                                       "relays a request to the holders it names")
            names = set(s.scalars(select(Site.name).where(Site.consortium_id == cid)))
            unknown = sorted(set(req.holders) - names - {OWNER_HOLDER})
            if unknown:
                raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
                    f"request {req.request} names holders that are neither the owner nor "
                    f"sites of this consortium: {', '.join(unknown)}"))
            if req.expires <= time.time():
                raise PolicyError(f"request {req.request} expired; sign a new one")
            check_binding(s, blobs, cid, req)
            old = s.get(CoDecryption, req.request)
            if old is not None and (old.blob != writer.digest or old.consortium_id != cid):
                raise _conflict(f"request {req.request} was posted before with other "
                                "contents; a request is signed once, with a fresh id")
            if old is None:
                s.add(CoDecryption(id=req.request, consortium_id=cid,
                                   holders=json.dumps(list(req.holders)),
                                   message=json.dumps(package.message), expires=req.expires,
                                   blob=writer.digest, size=writer.size))
                _flush(s, f"request {req.request} was posted at the same time; post it again")
            writer.commit()
            response.status_code = status.HTTP_200_OK if old else status.HTTP_201_CREATED
            return {"request": req.request, "holders": list(req.holders)}

    @app.get(base + "/pending")
    def pending(cid: ConsortiumId, who: Who) -> dict[str, Any]:
        member(who, cid, "owner", "site")
        with db.session() as s:
            name = _holder_name(s, who)
            answered = set(s.scalars(select(CoDecryptionAnswer.request_id).where(
                CoDecryptionAnswer.holder == name)))
            rows = s.scalars(select(CoDecryption).where(
                CoDecryption.consortium_id == cid, CoDecryption.expires > time.time())
                .order_by(CoDecryption.created))
            waiting = [r.id for r in rows
                       if r.id not in answered and name in json.loads(r.holders)]
        return {"holder": name, "requests": waiting[:_PENDING_LIMIT]}

    @app.get(base + "/answered")
    def answered(cid: ConsortiumId, who: Who) -> dict[str, Any]:
        member(who, cid, "owner", "site")
        with db.session() as s:
            ids = set(s.scalars(select(CoDecryptionAnswer.request_id).where(
                CoDecryptionAnswer.refused.is_(False))))
            rows = s.scalars(select(CoDecryption).where(CoDecryption.consortium_id == cid)
                             .order_by(CoDecryption.created))
            return {"messages": [json.loads(r.message) for r in rows if r.id in ids]}

    @app.get(base + "/{rid}/package")
    def package(cid: ConsortiumId, rid: RequestId, who: Who) -> StreamingResponse:
        member(who, cid, "owner", "site")
        with db.session() as s:
            row = _row(s, cid, rid)
            _named(row, _holder_name(s, who))
            digest = row.blob
        return StreamingResponse(blobs.iter_chunks(digest),
                                 media_type="application/octet-stream")

    @app.put(base + "/{rid}/answers/{holder}")
    async def answer(cid: ConsortiumId, rid: RequestId, holder: HolderName, request: Request,
                     who: Who, response: Response) -> dict[str, Any]:
        member(who, cid, "owner", "site")
        limit = await run_in_threadpool(_answer_limit, cid, rid)
        writer = await blobs.put_stream(request.stream(), limit)
        return await run_in_threadpool(_answer, cid, rid, holder, who, writer, response)

    def _answer_limit(cid: int, rid: str) -> int:
        """An answer holds one share per ciphertext, each smaller than its ciphertext."""
        with db.session() as s:
            return _row(s, cid, rid).size + (1 << 20)

    def _answer(cid: int, rid: str, holder: str, who: Any, writer: BlobWriter,
                response: Response) -> dict[str, Any]:
        with writer, db.session() as s:
            row = _row(s, cid, rid)
            if _holder_name(s, who) != holder:
                raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
                    f"only {holder} answers for {holder}; this token is another holder's"))
            _named(row, holder)
            got = Answer.from_bytes(writer.path.read_bytes())
            digests = json.loads(row.message)["payload"]["digests"]
            if got.request != rid or got.holder != holder or (
                    got.refused is None and list(got.shares) != digests):
                raise CorruptDataError(f"this answer is not {holder}'s to request {rid} and "
                                       "its ciphertexts")
            old = s.scalar(select(CoDecryptionAnswer).where(
                CoDecryptionAnswer.request_id == rid, CoDecryptionAnswer.holder == holder))
            if old is not None and old.blob != writer.digest:
                raise _conflict(f"{holder} answered request {rid} before, otherwise; an "
                                "answer is final")
            if old is None:
                s.add(CoDecryptionAnswer(request_id=rid, holder=holder,
                                         refused=got.refused is not None, blob=writer.digest,
                                         size=writer.size))
                _flush(s, f"{holder} answered request {rid} at the same time; answer again")
            writer.commit()
            response.status_code = status.HTTP_200_OK if old else status.HTTP_201_CREATED
            return {"request": rid, "holder": holder, "refused": got.refused is not None}

    @app.get(base + "/{rid}")
    def state(cid: ConsortiumId, rid: RequestId, who: Who) -> dict[str, Any]:
        member(who, cid, "owner")
        with db.session() as s:
            row = _row(s, cid, rid)
            holders = json.loads(row.holders)
            answers = list(s.scalars(select(CoDecryptionAnswer).where(
                CoDecryptionAnswer.request_id == rid)))
            refused = {a.holder: Answer.from_bytes(blobs.read(a.blob)).refused
                       for a in answers if a.refused}
            answered = sorted(a.holder for a in answers if not a.refused)
            return {"request": rid, "holders": holders, "answered": answered,
                    "refused": refused, "expires": row.expires,
                    "missing": [h for h in holders if h not in answered and h not in refused]}

    @app.get(base + "/{rid}/answers/{holder}")
    def answer_package(cid: ConsortiumId, rid: RequestId, holder: HolderName,
                       who: Who) -> StreamingResponse:
        member(who, cid, "owner")
        with db.session() as s:
            _row(s, cid, rid)
            found = s.scalar(select(CoDecryptionAnswer).where(
                CoDecryptionAnswer.request_id == rid, CoDecryptionAnswer.holder == holder))
            if found is None:
                raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
                    f"{holder} has not answered request {rid} yet"))
            digest = found.blob
        return StreamingResponse(blobs.iter_chunks(digest),
                                 media_type="application/octet-stream")
