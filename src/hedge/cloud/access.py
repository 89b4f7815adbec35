"""Who is calling: the bearer token resolved against the database of the running app
(`app.state.db`), the membership check every consortium route starts with, and a consortium's
site by name. Their refusals are `PolicyError`s: 401 for a token the cloud does not know, 404
for another consortium, 403 for another role, 404 for a site the consortium does not have."""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations.
from typing import Annotated

from fastapi import Depends, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hedge.cloud import auth
from hedge.cloud.db import MAX_ID, Database, Site
from hedge.errors import PolicyError
from hedge.wire.refusals import Refusal

__all__ = ["ConsortiumId", "Who", "member", "site_named"]

_bearer = HTTPBearer(auto_error=False)


def _caller(request: Request,
            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
            ) -> auth.Caller:
    db: Database = request.app.state.db
    with db.session() as s:
        who = auth.resolve(s, creds.credentials if creds else None)
    if who is None:
        raise Refusal(status.HTTP_401_UNAUTHORIZED,
                      PolicyError("missing, unknown or revoked token; send the token the cloud "
                                  "issued as Authorization: Bearer <token> (a site's is in its "
                                  "enrolment file)"),
                      headers={"WWW-Authenticate": "Bearer"})
    return who


Who = Annotated[auth.Caller, Depends(_caller)]

#: A consortium id in a route's path (bounded: a larger number is a 422, not an overflow).
ConsortiumId = Annotated[int, Path(ge=1, le=MAX_ID, description="the consortium's id")]


def member(who: auth.Caller, cid: int, *roles: str) -> None:
    """`Refusal` 404 unless the caller belongs to consortium `cid` (the same answer whether
    it exists or not: no existence oracle), 403 unless it has one of `roles` there; both
    `PolicyError`."""
    if who.consortium_id != cid or who.role not in ("owner", "site"):
        raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
            f"no consortium {cid} for this token; use the token of the consortium you mean"))
    if who.role not in roles:
        raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
            f"this needs the {' or '.join(roles)} token of the consortium"))


def site_named(session: Session, cid: int, name: str) -> Site:
    """Consortium `cid`'s site `name` (in the database `session`), or `Refusal` 404
    `PolicyError`."""
    site = session.scalar(select(Site).where(Site.consortium_id == cid, Site.name == name))
    if site is None:
        raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
            f"no site {name!r} in this consortium; `hedge owner status` lists its sites"))
    return site
