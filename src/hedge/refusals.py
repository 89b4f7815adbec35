"""How hedge's HTTP services (the cloud, the owner's key service) answer a request they refuse:
JSON ``{"detail": <what went wrong and what to do>, "error": <the hedge exception's name>}``.
Their clients raise the named exception again (`hedge.protocol.refusal_class`).

A service refuses either by raising a `HedgeError`, whose status the service's own rule gives,
or by raising a `Refusal`: a hedge error with a status of its own (an unknown token is 401, an
unknown job 404, whatever the exception's class would give)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.
from collections.abc import Callable, Mapping

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from hedge.errors import HedgeError

__all__ = ["Refusal", "add_refusal_handlers", "refusal_response"]


class Refusal(HTTPException):
    """A refusal with its HTTP status and the hedge error it stands for, e.g.
    ``Refusal(404, PolicyError("job 'x' is not registered"))``."""

    def __init__(self, status_code: int, error: HedgeError,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, str(error), headers)
        self.error = error


def refusal_response(status_code: int, error: HedgeError,
                     headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The answer to a refused request: `error`'s message as ``detail``, its class's name as
    ``error``."""
    return JSONResponse({"detail": str(error), "error": type(error).__name__},
                        status_code=status_code, headers=headers)


def add_refusal_handlers(app: FastAPI, status_for: Callable[[HedgeError], int]) -> None:
    """Answer every `HedgeError` an endpoint raises with the status `status_for` gives it, and
    every `Refusal` with its own; both name their error."""

    @app.exception_handler(HedgeError)
    async def hedge_error(_: Request, exc: HedgeError) -> JSONResponse:
        return refusal_response(status_for(exc), exc)

    @app.exception_handler(Refusal)
    async def refusal(_: Request, exc: Refusal) -> JSONResponse:
        return refusal_response(exc.status_code, exc.error, exc.headers)
