"""Who is calling: the bearer token resolved against the database of the running app
(`app.state.db`), and the membership check every consortium route starts with."""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations.
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hedge.cloud import auth
from hedge.cloud.db import Database

__all__ = ["Who", "member"]

_bearer = HTTPBearer(auto_error=False)


def _caller(request: Request,
            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
            ) -> auth.Caller:
    db: Database = request.app.state.db
    with db.session() as s:
        who = auth.resolve(s, creds.credentials if creds else None)
    if who is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or unknown token",
                            headers={"WWW-Authenticate": "Bearer"})
    return who


Who = Annotated[auth.Caller, Depends(_caller)]


def member(who: auth.Caller, cid: int, *roles: str) -> None:
    """404 unless the caller belongs to consortium `cid` (no existence oracle), 403 unless it
    has one of `roles` there."""
    if who.consortium_id != cid or who.role not in ("owner", "site"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consortium")
    if who.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"this needs the {' or '.join(roles)} token of the consortium")
