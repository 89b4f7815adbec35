"""The cloud client's retries: idempotent calls are retried, a POST the service may have
processed is never sent twice."""

from __future__ import annotations

import httpx
import pytest

from hedge.cloud.blobs import TooLargeError
from hedge.errors import (
    CloudUnavailableError,
    CorruptDataError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    SchemaError,
    SecretMaterialError,
)
from hedge.wire.cloud_client import CloudClient


def client_with(answers: list[object]) -> tuple[CloudClient, list[str]]:
    """A client whose transport answers from `answers` (a status code, or an exception to
    raise), recording each request's method."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, int)
        return httpx.Response(answer, json={"detail": "x", "id": 1, "revoked": 1})

    http = httpx.Client(base_url="http://cloud", transport=httpx.MockTransport(handle))
    return CloudClient("http://cloud", "t", sleep=lambda _: None, retries=3, http=http), seen


def test_reads_and_puts_are_retried_on_5xx_and_network_errors() -> None:
    client, seen = client_with([503, httpx.ReadTimeout("slow"), 200])
    assert client.jobs(1) == {"detail": "x", "id": 1, "revoked": 1}
    assert seen == ["GET"] * 3
    client, seen = client_with([500, 500, 500, 500])
    with pytest.raises(CloudUnavailableError, match="failed 4 times"):
        client.revoke_site(1, "p")
    assert seen == ["DELETE"] * 4


def test_a_post_is_sent_again_only_if_it_never_left() -> None:
    client, seen = client_with([httpx.ConnectError("refused"), 201])
    assert client.submit_job(1, {})["id"] == 1
    assert seen == ["POST", "POST"]
    client, seen = client_with([500])
    with pytest.raises(CloudUnavailableError, match=r"500.*whether it took effect") as info:
        client.submit_job(1, {})
    assert seen == ["POST"] and info.value.sent
    client, seen = client_with([httpx.ConnectError("refused")] * 4)
    with pytest.raises(CloudUnavailableError, match="failed 4 times") as info:
        client.submit_job(1, {})
    assert seen == ["POST"] * 4 and not info.value.sent  # it never left: no job exists
    client, seen = client_with([httpx.ReadTimeout("slow")])
    with pytest.raises(CloudUnavailableError, match="whether it took effect"):
        client.add_site(1, "p")
    assert seen == ["POST"]


@pytest.mark.parametrize(("status", "error", "raised"), [
    (409, "KeyMismatchError", KeyMismatchError), (409, None, PolicyError),
    (413, "TooLargeError", TooLargeError), (422, "SecretMaterialError", SecretMaterialError),
    (400, None, CorruptDataError), (404, None, PolicyError), (422, None, ParameterError),
    (400, "ParameterError", ParameterError), (400, "SchemaError", SchemaError),
    (413, None, TooLargeError)])
def test_refusals_map_back_to_their_exceptions(status: int, error: str | None,
                                               raised: type[Exception]) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"detail": "why", "error": error})

    http = httpx.Client(base_url="http://cloud", transport=httpx.MockTransport(handle))
    client = CloudClient("http://cloud", "t", sleep=lambda _: None, http=http)
    with pytest.raises(raised, match=f"{status}: why") as info:
        client.upload(1, "k", b"x")
    assert type(info.value) is raised
