"""API tokens: 256-bit random, shown once, stored as SHA-256 digests, scoped by role.

A fast hash is right here (unlike passwords): a token has 256 bits of entropy, so its digest
cannot be inverted by guessing, and lookups go by digest without comparing secrets in Python.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hedge.cloud.db import Token

__all__ = ["Caller", "digest", "issue", "resolve"]

_PREFIX = "hedge_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, role: str, consortium_id: int | None = None,
          site_id: int | None = None) -> str:
    """Create a token; the clear value is returned once and never stored."""
    token = _PREFIX + secrets.token_urlsafe(32)
    session.add(Token(digest=digest(token), role=role, consortium_id=consortium_id,
                      site_id=site_id))
    return token


@dataclass(frozen=True)
class Caller:
    role: str
    consortium_id: int | None
    site_id: int | None


def resolve(session: Session, token: str | None) -> Caller | None:
    """The caller a token stands for, or None (unknown, revoked, malformed)."""
    if not token or not token.startswith(_PREFIX) or len(token) > 128:
        return None
    row = session.scalar(select(Token).where(Token.digest == digest(token)))
    if row is None or row.revoked:
        return None
    return Caller(row.role, row.consortium_id, row.site_id)
