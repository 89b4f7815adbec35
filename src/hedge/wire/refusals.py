"""How hedge's HTTP services (the cloud, the owner's key service) answer a request they refuse:
JSON ``{"detail": <what went wrong and what to do>, "error": <the hedge exception's name>}``.
Their clients raise the named exception again (`hedge.wire.protocol.refusal_class`).

A service refuses either by raising a `HedgeError`, whose status the service's own rule gives,
or by raising a `Refusal`: a hedge error with a status of its own (an unknown token is 401, an
unknown job 404, whatever the exception's class would give). FastAPI's own refusals name their
error too: a request its declared parameters or body do not fit is 422 `ParameterError`
(FastAPI's list of problems kept as ``validation``), an unknown route 404 and any other bare
4xx the class `refusal_class` gives its status (405 `ParameterError`)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from hedge.errors import HedgeError, ParameterError
from hedge.wire.protocol import refusal_class

__all__ = ["Refusal", "add_refusal_handlers", "refusal_response", "validation_message"]

#: problems a validation message lists; the others are counted
_SHOWN = 4
#: problems a refusal's ``validation`` list holds, and the longest text of each part
_ECHOED, _PART = 32, 128
#: where a problem lies, by the first part of its location: (the whole part, one item of it)
_PLACES = {"body": ("the body", "body field"), "query": ("the query", "query parameter"),
           "path": ("the path", "path parameter"), "header": ("the headers", "header"),
           "cookie": ("the cookies", "cookie")}


class Refusal(HTTPException):
    """A refusal with its HTTP status and the hedge error it stands for, e.g.
    ``Refusal(404, PolicyError("job 'x' is not registered"))``."""

    def __init__(self, status_code: int, error: HedgeError,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, str(error), headers)
        self.error = error


def refusal_response(status_code: int, error: HedgeError,
                     headers: Mapping[str, str] | None = None, *,
                     validation: list[Any] | None = None) -> JSONResponse:
    """The answer to a refused request: `error`'s message as ``detail``, its class's name as
    ``error``; `validation`, if given: FastAPI's structured problems, as ``validation``."""
    body: dict[str, Any] = {"detail": str(error), "error": type(error).__name__}
    if validation is not None:
        body["validation"] = validation
    return JSONResponse(body, status_code=status_code, headers=headers)


def validation_message(problems: Sequence[Mapping[str, Any]], what: str = "request") -> str:
    """One line for pydantic's or FastAPI's validation `problems` (``loc`` and ``msg`` of
    each): ``invalid <what>: body field name: String should match ...; ...``, the first few
    problems named and the others counted, ending with where the API is described."""
    shown = [_problem(p) for p in problems[:_SHOWN]]
    if len(problems) > _SHOWN:
        shown.append(f"{len(problems) - _SHOWN} more")
    return (f"invalid {what}: {'; '.join(shown) or 'no details'}; correct it as the API "
            "describes (/docs)")


def _problem(problem: Mapping[str, Any]) -> str:
    """`problem` as ``<where>: <message>``, e.g. ``query parameter name: Field required``."""
    loc = [str(part) for part in problem.get("loc", ())]
    message = str(problem.get("msg", "invalid"))
    whole, item = _PLACES.get(loc[0], ("", "field")) if loc else ("", "field")
    rest = loc[1:] if loc and loc[0] in _PLACES else loc
    if rest:
        return f"{item} {'.'.join(rest)}: {message}"
    return f"{whole}: {message}" if whole else message


def _echoed(problems: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's validation problems as they are answered: each one's ``type``, ``loc`` and
    ``msg`` only, as plain strings and integers. The rejected ``input`` (and ``ctx``) stay
    out: they echo the caller's bytes, and a NaN or an infinity among them (Python's JSON
    reader takes ``NaN`` and ``1e400``) cannot be written as JSON at all."""
    shown = []
    for problem in problems[:_ECHOED]:
        loc = [part if isinstance(part, int) and not isinstance(part, bool) else
               str(part)[:_PART] for part in problem.get("loc", ())]
        shown.append({"type": str(problem.get("type", ""))[:_PART], "loc": loc,
                      "msg": str(problem.get("msg", ""))[:_PART * 4]})
    return shown


def _bare_message(request: Request, exc: StarletteHTTPException) -> str:
    """What to do about a refusal FastAPI or Starlette raised with a bare status (an
    endpoint's own detail is kept)."""
    path = request.url.path[:200]
    if exc.detail != HTTPStatus(exc.status_code).phrase:
        return str(exc.detail)
    if exc.status_code == 404:
        return (f"no route {request.method} {path} on this service; check the service's URL "
                "and the path against the API (/docs)")
    if exc.status_code == 405:
        return (f"{path} does not take {request.method}; the Allow header and the API (/docs) "
                "name the methods it takes")
    return f"{exc.detail} ({request.method} {path}); see the API (/docs)"


def add_refusal_handlers(app: FastAPI, status_for: Callable[[HedgeError], int]) -> None:
    """Answer every `HedgeError` an endpoint raises with the status `status_for` gives it, and
    every `Refusal` with its own; a request FastAPI finds invalid with 422 `ParameterError`,
    and any other 4xx of FastAPI or Starlette (unknown route, method not allowed) with the
    error `refusal_class` gives its status. All of them name their error; other statuses
    keep FastAPI's answer."""

    @app.exception_handler(HedgeError)
    async def hedge_error(_: Request, exc: HedgeError) -> JSONResponse:
        return refusal_response(status_for(exc), exc)

    @app.exception_handler(Refusal)
    async def refusal(_: Request, exc: Refusal) -> JSONResponse:
        return refusal_response(exc.status_code, exc.error, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        return refusal_response(422, ParameterError(validation_message(problems)),
                                validation=_echoed(problems))

    @app.exception_handler(StarletteHTTPException)
    async def bare_refusal(request: Request, exc: StarletteHTTPException) -> Response:
        if not 400 <= exc.status_code < 500:
            return await http_exception_handler(request, exc)
        error = refusal_class(exc.status_code, None)(_bare_message(request, exc))
        return refusal_response(exc.status_code, error, exc.headers)
