"""The key service's HTTP client (httpx): the cloud's workers refresh through it, the owner
registers jobs and checks the audit chain with it. It imports neither `hedge.cloud` nor
`hedge.owner`; the service itself is `hedge.owner.http`."""

from __future__ import annotations

import warnings
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx

from hedge.errors import HedgeError, PolicyError
from hedge.wire.protocol import (
    MIN_TOKEN_LENGTH,
    error_body,
    is_hedge_error,
    is_loopback_url,
    refusal_class,
)

__all__ = ["HttpRefreshClient"]

_SHOWN = 300  # characters of a refusal's detail repeated in an error


class HttpRefreshClient:
    """The key service's HTTP client: `hedge.ml.refresh.RefreshClient` for the cloud's
    workers, and job registration and cancellation for the owner. A refusal raises the hedge
    exception the service names, with its status and detail (`hedge.wire.protocol.refusal_class`:
    one without a name, e.g. a proxy's, by its status: 413 `TooLargeError`, 401/403/404/409
    `PolicyError`, 400 `CorruptDataError`, another 4xx `ParameterError`); 401 says
    "unauthorised"; a service that cannot be reached, and any 5xx whose error is none of those,
    raise `HedgeError`. Messages repeat a hedge refusal's detail (its first 300 characters),
    and of any other answer only its status and reason phrase, never its body: the cloud's
    workers put these messages in job states. `transport` is the test seam."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if transport is None and urlsplit(url).scheme == "http" and not is_loopback_url(url):
            warnings.warn(f"the key service at {url} is reached without TLS: the token and the "
                          "ciphertexts travel in clear; use https", stacklevel=2)
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                    headers={"Authorization": f"Bearer {token}"})

    def __repr__(self) -> str:
        return f"HttpRefreshClient({self.url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def refresh(self, job_id: str, masked: bytes) -> bytes:
        response = self._request("POST", f"/jobs/{quote(job_id, safe='')}/refresh",
                                 content=bytes(masked),
                                 headers={"Content-Type": "application/octet-stream"})
        return response.content

    def register_job(self, job_id: str, length: int, columns: int, max_refreshes: int) -> str:
        """Register a job (the admin token); the job's own token, which reaches that job only
        (what the cloud is given for it)."""
        data = self._json(self._request("POST", "/jobs", json={
            "job_id": job_id, "length": length, "columns": columns,
            "max_refreshes": max_refreshes}))
        token = data.get("token")
        if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
            raise HedgeError(f"the key service at {self.url} answered the registration without "
                             "a job token; run a key service of this hedge version")
        return token

    def cancel_job(self, job_id: str) -> None:
        """End a job's budget where it stands (the admin token only)."""
        self._request("DELETE", f"/jobs/{quote(job_id, safe='')}")

    def job(self, job_id: str) -> dict[str, Any]:
        """A registered job's budget (`PolicyError` for an unknown job or a refused token):
        lets a client fail before it spends any work."""
        return self._json(self._request("GET", f"/jobs/{quote(job_id, safe='')}"))

    def audit(self) -> tuple[int, str]:
        """(entries, last hash) of the verified audit chain."""
        data = self._json(self._request("GET", "/audit"))
        entries, last = data.get("entries"), data.get("last_hash")
        if isinstance(entries, bool) or not isinstance(entries, int) or not isinstance(last, str):
            raise HedgeError(f"the key service at {self.url} answered the audit check without "
                             "its entry count and last hash; check that the URL is the key "
                             "service's")
        return entries, last

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        """A success's JSON object, or `HedgeError` (saying nothing of what came instead)."""
        try:
            data = response.json()
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise HedgeError(f"the key service at {self.url} answered {response.status_code} "
                             "without the JSON object it answers with; check that the URL is "
                             "the key service's")
        return data

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HedgeError(f"the key service at {self.url} cannot be reached: {exc}") from exc
        if response.is_success:
            return response
        detail, error = error_body(response.content)
        code = response.status_code
        # only a hedge refusal's own detail is repeated, and briefly: whatever else answers
        # at this URL (a proxy, another service) could put anything in its body
        shown = (detail[:_SHOWN] if detail is not None and is_hedge_error(error)
                 else response.reason_phrase or "no reason given")
        if code == httpx.codes.UNAUTHORIZED:
            raise PolicyError(f"unauthorised: the key service at {self.url} refused the token "
                              f"({shown}); use the token it was started with")
        raise refusal_class(code, error)(f"the key service answered {code}: {shown}")
