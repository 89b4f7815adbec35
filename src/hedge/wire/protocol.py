"""What hedge's parties agree on across the network, kept apart from each party's code: the
cloud, the owner and the key service's client import these from here, so that no party loads
another's machinery (the cloud never loads the key service, the owner never the cloud's
database)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    SchemaError,
    SecretMaterialError,
    ShapeError,
    TooLargeError,
)

__all__ = ["HTTP_STATUS", "JOB_ID_PATTERN", "MAX_ID", "MAX_JOB_ATTEMPTS", "MIN_TOKEN_LENGTH",
           "error_body", "http_status", "is_hedge_error", "is_loopback_host", "is_loopback_url",
           "refusal_class"]

#: Key-service job ids: 1-128 characters, letters, digits and ``._:-``, starting with a letter
#: or digit.
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
#: Largest id, row count or sequence number a request may carry: 2^53, exact in JSON and in a
#: float64, far below what the cloud database's 64-bit integers hold (a larger one would
#: overflow there instead of being refused).
MAX_ID = 2**53
#: Shortest bearer token the key service accepts.
MIN_TOKEN_LENGTH = 16
#: A cloud job that crashed its worker this often is failed instead of requeued; every attempt
#: may restart a training from its checkpoint, so the owner budgets refreshes for them.
MAX_JOB_ATTEMPTS = 3


def is_loopback_url(url: str) -> bool:
    """Whether a URL points at this machine (plain HTTP is acceptable only there)."""
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def error_body(body: bytes) -> tuple[str | None, str | None]:
    """(detail, error) of a refusal: both services answer JSON ``{"detail": ..., "error":
    <the hedge exception's name>}``; None for what the body does not hold (a proxy's HTML page,
    FastAPI's own answers without `error`)."""
    try:
        data: Any = json.loads(body)
        if not isinstance(data, dict):
            return None, None
        detail, error = data.get("detail"), data.get("error")
        text = None if detail is None else str(detail)
    except (ValueError, TypeError, RecursionError):  # not JSON, not text, nested too deep
        return None, None
    return text, error if isinstance(error, str) else None


#: hedge's exceptions the services name in their refusals (`error`), by name
_NAMED: dict[str, type[HedgeError]] = {
    cls.__name__: cls for cls in (SecretMaterialError, KeyMismatchError, TooLargeError,
                                  CorruptDataError, ParameterError, SchemaError, ShapeError,
                                  PolicyError)}


#: The one table of hedge's exceptions to the HTTP status every service refuses them with, the
#: first class that matches (subclasses before their bases).
HTTP_STATUS: tuple[tuple[type[HedgeError], int], ...] = (
    (TooLargeError, 413), (SecretMaterialError, 422), (PolicyError, 403),
    (KeyMismatchError, 409), (CorruptDataError, 400), (ParameterError, 400),
    (SchemaError, 400), (ShapeError, 400))


def http_status(exc: HedgeError) -> int:
    """The status a service refuses `exc` with (`HTTP_STATUS`); another hedge error 400 (what
    a request gave cannot be computed on), a bare `HedgeError` 500 (the service failed)."""
    for cls, code in HTTP_STATUS:
        if isinstance(exc, cls):
            return code
    return 500 if type(exc) is HedgeError else 400


def is_hedge_error(error: str | None) -> bool:
    """Whether a refusal's `error` names one of the hedge exceptions the services name."""
    return error in _NAMED


def refusal_class(status: int, error: str | None) -> type[HedgeError]:
    """The exception a client raises for an answer of the cloud or the key service that is not
    a success: the one the answer names (`error`, see `error_body`) among those above, else by
    its status: any 5xx `HedgeError` (a failure of the service, whatever it names), 413
    `TooLargeError` (a proxy's limit, which names none), 401, 403, 404 and 409 `PolicyError`,
    400 `CorruptDataError`, any other `ParameterError`."""
    if error in _NAMED:
        return _NAMED[error]
    if status >= 500:
        return HedgeError
    if status == 413:
        return TooLargeError
    if status in (401, 403, 404, 409):
        return PolicyError
    if status == 400:
        return CorruptDataError
    return ParameterError
