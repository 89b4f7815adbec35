"""The key service over real HTTP (uvicorn on loopback) and the cloud's HttpRefreshClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from hedge.ckks import EncryptedVector, KeySet
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    TooLargeError,
)
from hedge.ml.layout import RowLayout
from hedge.ml.refresh import refresh_tiled
from hedge.owner import AuditLog, KeyService
from hedge.owner.http import check_tokens, create_app
from hedge.wire.keyservice_client import HttpRefreshClient
from tests.owner.conftest import COLUMNS, WEIGHTS, serve

TOKEN = "refresh-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
LIMIT = 2 * 2**20  # a small body limit for the test server (a level-1 'fast' vector: ~0.3 MB)


@pytest.fixture(scope="module")
def service(owner_keys: KeySet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyService]:
    log = AuditLog(tmp_path_factory.mktemp("http") / "audit.jsonl")
    yield KeyService(owner_keys, log)
    log.close()


@pytest.fixture(scope="module")
def url(service: KeyService) -> Iterator[str]:
    with serve(create_app(service, TOKEN, admin_token=ADMIN, max_body_bytes=LIMIT)) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[HttpRefreshClient]:
    with HttpRefreshClient(url, TOKEN, timeout=10) as c:
        yield c


@pytest.fixture
def admin(url: str) -> Iterator[HttpRefreshClient]:
    with HttpRefreshClient(url, ADMIN, timeout=10) as c:
        yield c


def _last(service: KeyService) -> tuple[str, str | None, str]:
    e = service.audit.entries()[-1]
    return e.event, e.job, str(e.details.get("reason", ""))


def test_refresh_round_trip_over_http(admin: HttpRefreshClient, client: HttpRefreshClient,
                                      owner_keys: KeySet, layout: RowLayout,
                                      low_weights: EncryptedVector, service: KeyService) -> None:
    admin.register_job("http-1", COLUMNS, COLUMNS, 4)
    fresh = refresh_tiled(client, "http-1", low_weights, layout)
    assert fresh.level == owner_keys.params.depth
    assert np.max(np.abs(decrypt_exact(owner_keys, fresh) - layout.tile(WEIGHTS))) < 1e-6
    # refresh again from the refreshed weights: the loop the cloud runs
    again = refresh_tiled(client, "http-1", fresh.at_level(2), layout)
    assert np.max(np.abs(decrypt_exact(owner_keys, again) - layout.tile(WEIGHTS))) < 1e-6
    assert service.job("http-1").used == 2  # type: ignore[union-attr]
    count, last = client.audit()
    assert (count, last) == service.audit.head


def test_policy_refusals_are_403_and_audited(admin: HttpRefreshClient,
                                             client: HttpRefreshClient, url: str,
                                             low_weights: EncryptedVector,
                                             service: KeyService) -> None:
    masked = low_weights.head(COLUMNS).to_bytes()
    with pytest.raises(PolicyError, match="not registered"):
        client.refresh("http-none", masked)
    assert _last(service)[:2] == ("refused", "http-none")

    admin.register_job("http-2", COLUMNS, COLUMNS, 1)
    with pytest.raises(PolicyError, match="already registered"):
        admin.register_job("http-2", COLUMNS, COLUMNS, 50)
    assert _last(service)[:2] == ("refused", "http-2")

    with pytest.raises(PolicyError, match="not 4096"):
        client.refresh("http-2", low_weights.to_bytes())
    assert "not 4096" in _last(service)[2]

    client.refresh("http-2", masked)
    raw = httpx.post(f"{url}/jobs/http-2/refresh", content=masked,
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert raw.status_code == 403 and "used all 1" in raw.json()["detail"]
    assert "used all 1" in _last(service)[2]


def test_only_the_admin_token_registers_jobs(client: HttpRefreshClient, url: str) -> None:
    with pytest.raises(PolicyError, match="admin token"):
        client.register_job("http-self", COLUMNS, COLUMNS, 1000)
    raw = httpx.post(f"{url}/jobs", json={"job_id": "x", "length": 1, "columns": 0,
                                          "max_refreshes": 1},
                     headers={"Authorization": f"Bearer {ADMIN}"})
    assert raw.status_code == 422


def test_only_the_admin_token_cancels_jobs(admin: HttpRefreshClient, client: HttpRefreshClient,
                                           url: str) -> None:
    admin.register_job("http-cancel", COLUMNS, COLUMNS, 7)
    with pytest.raises(PolicyError, match="admin token"):
        client.cancel_job("http-cancel")
    assert client.job("http-cancel")["max_refreshes"] == 7
    admin.cancel_job("http-cancel")
    assert client.job("http-cancel")["max_refreshes"] == 0
    with pytest.raises(HedgeError, match="404"):
        admin.cancel_job("http-none")


def test_without_an_admin_token_the_refresh_token_registers_and_cancels(
        service: KeyService) -> None:
    with serve(create_app(service, TOKEN, max_body_bytes=LIMIT)) as base, \
            HttpRefreshClient(base, TOKEN, timeout=10) as only:
        only.register_job("http-one-token", COLUMNS, COLUMNS, 3)
        only.cancel_job("http-one-token")
        assert only.job("http-one-token")["max_refreshes"] == 0


def test_foreign_key_set_is_400(admin: HttpRefreshClient, client: HttpRefreshClient, url: str,
                                foreign_keys: KeySet, service: KeyService) -> None:
    admin.register_job("http-f", COLUMNS, COLUMNS, 5)
    foreign = foreign_keys.public().encrypt(WEIGHTS).at_level(1).to_bytes()
    with pytest.raises(KeyMismatchError, match="key set"):
        client.refresh("http-f", foreign)
    raw = httpx.post(f"{url}/jobs/http-f/refresh", content=foreign,
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert raw.status_code == 409 and raw.json()["error"] == "KeyMismatchError"
    assert service.audit.entries()[-1].details["error"] == "KeyMismatchError"
    with pytest.raises(CorruptDataError):
        client.refresh("http-f", b"garbage")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": f"Bearer {TOKEN}x"}])
def test_missing_or_wrong_token_is_401(url: str, headers: dict[str, str]) -> None:
    for method, path in (("POST", "/jobs/http-1/refresh"), ("GET", "/audit"),
                         ("POST", "/jobs"), ("GET", "/jobs/http-1")):
        raw = httpx.request(method, f"{url}{path}", headers=headers, content=b"x")
        assert raw.status_code == 401, (method, path)
        assert raw.headers["www-authenticate"] == "Bearer"


def test_wrong_token_in_the_client_is_policy_error(url: str) -> None:
    with (HttpRefreshClient(url, "not-the-token-0123456789") as c,
          pytest.raises(PolicyError, match="unauthorised")):
        c.refresh("http-1", b"x")


def test_oversized_bodies_are_413(url: str, admin: HttpRefreshClient) -> None:
    admin.register_job("http-big", COLUMNS, COLUMNS, 5)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = b"\0" * (LIMIT + 1)
    raw = httpx.post(f"{url}/jobs/http-big/refresh", content=big, headers=auth)
    assert raw.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream is counted as it comes
        for _ in range(LIMIT // 2**16 + 2):
            yield b"\0" * 2**16

    raw = httpx.post(f"{url}/jobs/http-big/refresh", content=chunks(), headers=auth)
    assert raw.status_code == 413
    with (HttpRefreshClient(url, TOKEN) as c, pytest.raises(HedgeError, match="413")):
        c.refresh("http-big", big)


def test_health_job_state_and_openapi(url: str, admin: HttpRefreshClient) -> None:
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    admin.register_job("http-state", COLUMNS, COLUMNS, 4)  # self-contained: no test order
    state = httpx.get(f"{url}/jobs/http-state", headers={"Authorization": f"Bearer {TOKEN}"})
    assert state.status_code == 200 and state.json()["max_refreshes"] == 4
    missing = httpx.get(f"{url}/jobs/none", headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 404
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/jobs", "/jobs/{job_id}/refresh", "/audit", "/health"} <= set(spec["paths"])
    assert set(spec["paths"]["/jobs/{job_id}"]) == {"get", "delete"}
    body = spec["paths"]["/jobs/{job_id}/refresh"]["post"]["requestBody"]
    assert "application/octet-stream" in body["content"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_unreachable_service_is_hedge_error() -> None:
    with (HttpRefreshClient("http://127.0.0.1:9", TOKEN, timeout=2) as c,
          pytest.raises(HedgeError, match="cannot be reached")):
        c.refresh("job", b"x")


def test_single_token_mode_and_tampered_audit(owner_keys: KeySet, tmp_path: Path) -> None:
    """Without an admin token the one token registers too; /audit reports tampering as 500."""
    log = AuditLog(tmp_path / "audit.jsonl")
    try:
        app = create_app(KeyService(owner_keys, log), TOKEN)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with serve(app) as base, httpx.Client(base_url=base, headers=auth) as http:
            reg = {"job_id": "solo", "length": 2, "columns": 2, "max_refreshes": 1}
            assert http.post("/jobs", json=reg).status_code == 201
            assert http.get("/audit").json()["entries"] == 2
            lines = log.path.read_text().splitlines(keepends=True)
            log.path.write_text(lines[0].replace("fast", "slow") + lines[1])
            bad = http.get("/audit")
            assert bad.status_code == 500 and "line 1" in bad.json()["detail"]
            assert bad.json()["error"] == "CorruptDataError"
    finally:
        log.close()


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"token": "short"}, "needs a token of at least 16"),
    ({"token": TOKEN, "admin_token": TOKEN}, "must differ"),
    ({"token": TOKEN, "admin_token": "short"}, "admin token must have at least 16")])
def test_create_app_refuses_weak_tokens(service: KeyService, kwargs: dict[str, str],
                                        says: str) -> None:
    with pytest.raises(ParameterError, match=says):
        create_app(service, **kwargs)
    with pytest.raises(ParameterError, match=says):
        check_tokens(kwargs["token"], kwargs.get("admin_token"))


def test_check_tokens_gives_the_tokens_as_bytes() -> None:
    assert check_tokens(TOKEN, None) == (TOKEN.encode(), None)
    assert check_tokens(TOKEN, TOKEN + "!") == (TOKEN.encode(), (TOKEN + "!").encode())
    with pytest.raises(ParameterError, match="needs a token"):
        check_tokens(None, TOKEN)


def test_the_client_warns_about_cleartext_to_remote_hosts() -> None:
    with pytest.warns(UserWarning, match="without TLS"):
        HttpRefreshClient("http://keys.example.com:8765", TOKEN).close()


def test_job_bodies_are_read_only_after_authentication(url: str) -> None:
    junk = b"{not json" * 10
    unauthenticated = httpx.post(f"{url}/jobs", content=junk)
    assert unauthenticated.status_code == 401  # not 422: the body was never parsed
    admin_headers = {"Authorization": f"Bearer {ADMIN}"}
    invalid = httpx.post(f"{url}/jobs", content=junk, headers=admin_headers)
    assert invalid.status_code == 422
    huge = httpx.post(f"{url}/jobs", content=b" " * (128 * 1024), headers=admin_headers)
    assert huge.status_code == 413
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "application/json" in spec["paths"]["/jobs"]["post"]["requestBody"]["content"]


def test_client_checks_a_job_before_any_work(url: str, admin: HttpRefreshClient) -> None:
    admin.register_job("http-check", COLUMNS, COLUMNS, 2)
    with HttpRefreshClient(url, TOKEN, timeout=10) as client:
        assert client.job("http-check")["max_refreshes"] == 2
        with pytest.raises(HedgeError, match="404"):
            client.job("never-registered")
    with HttpRefreshClient(url, "wrong-token-0123456789", timeout=10) as stranger, \
            pytest.raises(PolicyError, match="unauthorised"):
        stranger.job("http-check")


def test_every_refusal_names_its_hedge_error(url: str, admin: HttpRefreshClient,
                                             foreign_keys: KeySet) -> None:
    """Each status the key service refuses with carries `error` beside `detail`, as the
    cloud's refusals do: clients map the name back to the exception."""
    admin.register_job("http-named", COLUMNS, COLUMNS, 1)
    refresh, owner = {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"Bearer {ADMIN}"}
    foreign = foreign_keys.public().encrypt(WEIGHTS).at_level(1).to_bytes()
    job = {"job_id": "http-named-2", "length": 1, "columns": 1, "max_refreshes": 1}
    refusals = [
        (401, "PolicyError", "GET", "/jobs/http-named", {}, None),
        (403, "PolicyError", "POST", "/jobs", refresh, job),
        (403, "PolicyError", "POST", "/jobs", owner, {**job, "job_id": "http-named"}),
        (403, "PolicyError", "POST", "/jobs/http-none/refresh", refresh, b"x"),
        (404, "PolicyError", "GET", "/jobs/http-none", refresh, None),
        (404, "PolicyError", "DELETE", "/jobs/http-none", owner, None),
        (413, "TooLargeError", "POST", "/jobs/http-named/refresh", refresh, b"\0" * (LIMIT + 1)),
        (413, "TooLargeError", "POST", "/jobs", owner, b" " * (128 * 1024)),
        (422, "ParameterError", "POST", "/jobs", owner, {**job, "columns": 0}),
        (409, "KeyMismatchError", "POST", "/jobs/http-named/refresh", refresh, foreign),
        (400, "CorruptDataError", "POST", "/jobs/http-named/refresh", refresh, b"garbage"),
        (404, "PolicyError", "GET", "/v1/jobs/http-named", refresh, None),  # no such route
        (405, "ParameterError", "PUT", "/jobs/http-named", owner, None),
    ]
    for code, error, method, path, headers, body in refusals:
        content = body if isinstance(body, bytes) else None
        sent = None if isinstance(body, bytes) else body
        raw = httpx.request(method, url + path, headers=headers, content=content, json=sent)
        assert (raw.status_code, raw.json().get("error")) == (code, error), (path, raw.text)
        assert isinstance(raw.json()["detail"], str) and raw.json()["detail"]
    assert httpx.get(url + "/jobs/x").headers["www-authenticate"] == "Bearer"


def test_the_client_raises_the_error_the_service_names(
        url: str, admin: HttpRefreshClient, client: HttpRefreshClient,
        low_weights: EncryptedVector, foreign_keys: KeySet) -> None:
    admin.register_job("http-names", COLUMNS, COLUMNS, 2)
    foreign = foreign_keys.public().encrypt(WEIGHTS).at_level(1).to_bytes()
    calls: list[tuple[type[HedgeError], str, Callable[[], object]]] = [
        (KeyMismatchError, "409: .*key set", lambda: client.refresh("http-names", foreign)),
        (CorruptDataError, "400", lambda: client.refresh("http-names", b"garbage")),
        (TooLargeError, "413: .*exceeds", lambda: client.refresh("http-names",
                                                                 b"\0" * (LIMIT + 1))),
        (PolicyError, "403: .*not 4096", lambda: client.refresh("http-names",
                                                                low_weights.to_bytes())),
        (PolicyError, "404: .*not registered", lambda: client.job("http-never")),
        (PolicyError, "404: .*not registered", lambda: admin.cancel_job("http-never")),
        (ParameterError, "422: invalid job: field columns: Input should be greater",
         lambda: admin.register_job("http-0", 1, 0, 1)),
    ]
    for raised, says, call in calls:
        with pytest.raises(raised, match=says) as info:
            call()
        assert type(info.value) is raised


@pytest.mark.parametrize(("status", "body", "raised"), [
    (413, b"<html>413 Request Entity Too Large</html>", TooLargeError),
    (502, b"<html>bad gateway</html>", HedgeError),
    (403, b"<html>forbidden by the proxy</html>", PolicyError)])
def test_answers_naming_no_error_map_by_their_status(status: int, body: bytes,
                                                     raised: type[HedgeError]) -> None:
    """What a proxy in front of the key service answers (it names no hedge error)."""
    proxy = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    with HttpRefreshClient("http://127.0.0.1:1", TOKEN, transport=proxy) as c, \
            pytest.raises(raised, match=str(status)) as info:
        c.refresh("job", b"x")
    assert type(info.value) is raised


def test_a_job_s_own_token_reaches_that_job_only_and_nothing_once_cancelled(
        admin: HttpRefreshClient, url: str, layout: RowLayout,
        low_weights: EncryptedVector, service: KeyService) -> None:
    """What the cloud holds for an assisted job is the job's own token: it refreshes and
    reads that job, nothing else (another job is 'not registered' for it, the audit log is
    forbidden), and once the owner cancels the job it authenticates nothing. The service
    keeps only its SHA-256, also across a restart."""
    token = admin.register_job("http-own", COLUMNS, COLUMNS, 3)
    admin.register_job("http-other", COLUMNS, COLUMNS, 3)
    assert token not in service.audit.path.read_text()
    with HttpRefreshClient(url, token, timeout=10) as own:
        fresh = refresh_tiled(own, "http-own", low_weights, layout)
        assert fresh.level == low_weights.engine.top_level
        assert own.job("http-own")["used"] == 1 and own.job("http-own")["token"] is None
        with pytest.raises(PolicyError, match="'http-other' is not registered"):
            own.job("http-other")
        with pytest.raises(PolicyError, match="'http-other' is not registered"):
            own.refresh("http-other", low_weights.head(COLUMNS).to_bytes())
        with pytest.raises(PolicyError, match="reaches that job only"):
            own.audit()
        with pytest.raises(PolicyError, match="admin token"):
            own.cancel_job("http-own")
        entries = len(service.audit.entries())
        admin.cancel_job("http-own")
        for _ in range(3):  # a cancelled job's token authenticates nothing, unaudited
            with pytest.raises(PolicyError, match="unauthorised"):
                own.refresh("http-own", low_weights.head(COLUMNS).to_bytes())
        assert len(service.audit.entries()) == entries + 1  # the cancellation only
    assert service.job("http-other").used == 0  # type: ignore[union-attr]
    assert service.job_of_token(token) is None  # cancelled
    assert service.job_of_token(admin.register_job("http-new", COLUMNS, COLUMNS, 1)) == \
        "http-new"
