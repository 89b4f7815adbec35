"""hedge.wire.refusals: every 4xx a service answers names its hedge error, FastAPI's own refusals
(invalid requests, unknown routes, methods not allowed) included."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, HTTPException, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

import hedge
from hedge.errors import HedgeError, KeyMismatchError, PolicyError
from hedge.wire.protocol import refusal_class
from hedge.wire.refusals import Refusal, add_refusal_handlers, validation_message


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z]+$")
    size: int = Field(ge=1)


def status_for(exc: HedgeError) -> int:
    return 409 if isinstance(exc, KeyMismatchError) else 400


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    add_refusal_handlers(app, status_for)

    @app.post("/things/{tid}")
    def make(tid: int, thing: Thing, mode: Annotated[str, Query(pattern="^(a|b)$")] = "a"
             ) -> dict[str, Any]:
        return {"tid": tid, **thing.model_dump(), "mode": mode}

    @app.get("/refused/{how}")
    def refused(how: str) -> None:
        if how == "refusal":
            raise Refusal(401, PolicyError("send a token"), headers={"WWW-Authenticate": "Bearer"})
        if how == "hedge":
            raise KeyMismatchError("another key set; use the consortium's bundle")
        if how == "bare":
            raise HTTPException(409, "taken; choose another name")
        if how == "status":
            raise HTTPException(418)
        raise HTTPException(503)

    return TestClient(app)


def named(response: Any, status: int, error: str) -> str:
    """The refusal's detail, once its status and named error are checked."""
    body = response.json()
    assert (response.status_code, body.get("error")) == (status, error), response.text
    assert refusal_class(status, body["error"]).__name__ == error
    assert isinstance(body["detail"], str) and body["detail"]
    detail: str = body["detail"]
    return detail


@pytest.mark.parametrize(("path", "body", "says"), [
    ("/things/x", {"name": "ok", "size": 1}, "path parameter tid: Input should be a valid integer"),
    ("/things/1", {"name": "OK", "size": 1}, "body field name: String should match pattern"),
    ("/things/1", {"name": "ok"}, "body field size: Field required"),
    ("/things/1?mode=c", {"name": "ok", "size": 1}, "query parameter mode: String should match"),
    ("/things/1", {"name": "ok", "size": 1, "colour": 2}, "body field colour: Extra inputs"),
    ("/things/1", None, "the body: Field required"),
])
def test_an_invalid_request_is_a_parameter_error_that_says_where(
        client: TestClient, path: str, body: dict[str, Any] | None, says: str) -> None:
    r = client.post(path, json=body)
    detail = named(r, 422, "ParameterError")
    assert detail.startswith("invalid request: ") and says in detail, detail
    assert detail.endswith("correct it as the API describes (/docs)")
    assert r.json()["validation"][0]["loc"][0] in ("path", "body", "query")  # FastAPI's list


def test_unknown_routes_and_methods_name_their_error(client: TestClient) -> None:
    detail = named(client.get("/nowhere/at/all"), 404, "PolicyError")
    assert "no route GET /nowhere/at/all" in detail and "/docs" in detail
    r = client.delete("/things/1")
    detail = named(r, 405, "ParameterError")
    assert "/things/1 does not take DELETE" in detail and r.headers["allow"] == "POST"


def test_refusals_of_endpoints_keep_their_status_detail_and_headers(client: TestClient) -> None:
    r = client.get("/refused/refusal")
    assert named(r, 401, "PolicyError") == "send a token"
    assert r.headers["www-authenticate"] == "Bearer"
    assert named(client.get("/refused/hedge"), 409, "KeyMismatchError").startswith("another")
    assert named(client.get("/refused/bare"), 409, "PolicyError") == "taken; choose another name"
    assert "see the API (/docs)" in named(client.get("/refused/status"), 418, "ParameterError")
    server_side = client.get("/refused/other")  # not a refusal: FastAPI's answer stays
    assert server_side.status_code == 503 and "error" not in server_side.json()


def test_a_validation_message_names_a_few_problems_and_counts_the_rest() -> None:
    problems = [{"loc": ("body", "f", i), "msg": "bad"} for i in range(7)]
    message = validation_message(problems, "job")
    assert message.startswith("invalid job: body field f.0: bad; body field f.1: bad;")
    assert "f.4" not in message and "; 3 more;" in message
    assert validation_message([{"loc": (), "msg": "Invalid JSON"}]) == (
        "invalid request: Invalid JSON; correct it as the API describes (/docs)")
    assert validation_message([{"loc": ("columns",), "msg": "too small"}], "job").startswith(
        "invalid job: field columns: too small")



def test_services_refuse_through_refusal_not_a_bare_http_exception() -> None:
    """A plain `HTTPException` would be named only by its status (a 400 `CorruptDataError`,
    whatever went wrong): every refusal of hedge's services names its class itself."""
    root = Path(hedge.__file__).parent
    bare = [f"{path.relative_to(root)}:{node.lineno}"
            for path in sorted(root.rglob("*.py")) if path.name != "refusals.py"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and "HTTPException" in ast.unparse(node.func)]
    assert not bare, bare
