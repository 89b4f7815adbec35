"""HTTP client of the cloud API (httpx), for the owner and the edges.

Idempotent calls (GET, PUT, DELETE: reads, uploads with their idempotency key, publications
with their sequence number, revocations) are retried with exponential backoff on network errors
and 5xx answers. POST calls (creating a consortium, a site, a job) are retried only when the
connection could not be opened, so a request the service may have processed is never sent twice;
otherwise they fail at once. The cloud being away or failing (network errors, 5xx) raises
`CloudUnavailableError`; anything the service refused raises the hedge exception it names, with
its message.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from hedge.errors import CloudUnavailableError, CorruptDataError, PolicyError
from hedge.wire.protocol import error_body, refusal_class

__all__ = ["CloudClient", "CloudUnavailableError"]


def _raise_for(response: httpx.Response) -> None:
    """The refusal (4xx) of the cloud as the hedge exception it names or its status means."""
    if response.status_code < 400:
        return
    detail, error = error_body(response.content)
    code = response.status_code
    raise refusal_class(code, error)(
        f"cloud answered {code}: {response.text if detail is None else detail}")


class CloudClient:
    def __init__(self, url: str, token: str, *, retries: int = 5, backoff: float = 0.5,
                 timeout: float = 120.0, verify: bool | str | ssl.SSLContext = True,
                 sleep: Callable[[float], None] = time.sleep,
                 http: httpx.Client | None = None) -> None:
        """`http`: an httpx client to use instead of a new one (e.g. one bound to an app
        in-process); it gets the token header and base URL set."""
        self.url = url.rstrip("/")
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout, verify=verify)
        self._http.headers["Authorization"] = f"Bearer {token}"
        self.retries, self.backoff, self._sleep = retries, backoff, sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = self.backoff
        idempotent = method in ("GET", "PUT", "DELETE")
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
                if response.status_code < 500:
                    _raise_for(response)
                    return response
                problem = f"{response.status_code} {response.text[:200]}"
                if not idempotent:
                    raise CloudUnavailableError(self._sent_once(method, path, problem))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing was sent
                problem = f"{type(exc).__name__}: {exc}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if not idempotent:
                    raise CloudUnavailableError(self._sent_once(method, path, problem)) from exc
            if attempt < self.retries:
                self._sleep(delay)
                delay *= 2
        raise CloudUnavailableError(f"{method} {self.url}{path} failed {self.retries + 1} "
                                    f"times ({problem}); nothing is lost, try again later",
                                    sent=idempotent)

    def _sent_once(self, method: str, path: str, problem: str) -> str:
        return (f"{method} {self.url}{path} failed ({problem}) after the request was sent; "
                "check with `hedge owner status` whether it took effect before trying again")

    # -- admin / owner ---------------------------------------------------------------------

    def create_consortium(self, name: str, owner_key: str, bundle: bytes) -> dict[str, Any]:
        r = self._call("POST", "/v1/consortia", params={"name": name, "owner_key": owner_key},
                       content=bundle)
        result: dict[str, Any] = r.json()
        return result

    def add_site(self, cid: int, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/consortia/{cid}/sites",
                                            json={"name": name}).json()
        return result

    def revoke_site(self, cid: int, name: str) -> int:
        """Revoke a site's tokens; the number revoked (0 if they were already)."""
        return int(self._call("DELETE", f"/v1/consortia/{cid}/sites/{name}/tokens"
                              ).json()["revoked"])

    def uploads(self, cid: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/v1/consortia/{cid}/uploads").json()
        return result

    def submit_job(self, cid: int, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/consortia/{cid}/jobs",
                                            json=spec).json()
        return result

    def store_model(self, cid: int, model: bytes) -> str:
        """Store an encrypted model for evaluation jobs; its blob name (idempotent)."""
        return str(self._call("PUT", f"/v1/consortia/{cid}/models", content=model
                              ).json()["blob"])

    def jobs(self, cid: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/v1/consortia/{cid}/jobs").json()
        return result

    def job(self, cid: int, job_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/consortia/{cid}/jobs/{job_id}").json()
        return result

    def job_result(self, cid: int, job_id: int) -> bytes:
        return self._call("GET", f"/v1/consortia/{cid}/jobs/{job_id}/result").content

    def publish(self, cid: int, site: str, sequence: int, package: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", f"/v1/consortia/{cid}/sites/{site}/deployments/{sequence}",
            content=package).json()
        return result

    # -- site ------------------------------------------------------------------------------

    def bundle(self, cid: int, purpose: str = "encrypt") -> bytes:
        """The consortium's public bundle: for encryption (no Galois keys, the default) or
        for evaluation (all of it)."""
        return self._call("GET", f"/v1/consortia/{cid}/bundle",
                          params={"purpose": purpose}).content

    def upload(self, cid: int, key: str, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/v1/consortia/{cid}/uploads/{key}",
                                            content=data).json()
        return result

    def latest_deployment(self, cid: int) -> tuple[int, bytes] | None:
        """(sequence, package) of the newest package for this site, None before the first."""
        try:
            r = self._call("GET", f"/v1/consortia/{cid}/deployments/latest")
        except PolicyError as exc:
            if "404" in str(exc) and "nothing deployed" in str(exc):
                return None
            raise
        sequence = r.headers.get("X-Hedge-Sequence", "")
        if not (sequence.isascii() and sequence.isdigit() and 0 < len(sequence) <= 16):
            raise CorruptDataError(f"the cloud at {self.url} answered a deployment without a "
                                   "valid X-Hedge-Sequence header (a whole number expected); "
                                   "check that the URL is the cloud's")
        return int(sequence), r.content

    # -- key holders (threshold mode) --------------------------------------------------------

    def post_codecryption(self, cid: int, package: bytes) -> dict[str, Any]:
        """Post a co-decryption request package (`hedge.wire.relay.RequestPackage`; owner).
        Posting the same package again is safe (the cloud answers 200 for it)."""
        result: dict[str, Any] = self._call("POST", f"/v1/consortia/{cid}/codecryptions",
                                            content=package).json()
        return result

    def pending_codecryptions(self, cid: int) -> list[str]:
        """The ids of the requests waiting for this token's holder (the owner or a site)."""
        body = self._call("GET", f"/v1/consortia/{cid}/codecryptions/pending").json()
        ids = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise CorruptDataError(f"the cloud at {self.url} answered no list of request ids")
        return ids

    def answered_codecryptions(self, cid: int) -> list[Any]:
        """The signed messages of the requests some holder answered (the holders' shared
        record for their differencing; each holder verifies them)."""
        body = self._call("GET", f"/v1/consortia/{cid}/codecryptions/answered").json()
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            raise CorruptDataError(f"the cloud at {self.url} answered no list of requests")
        return messages

    def codecryption_package(self, cid: int, rid: str) -> bytes:
        return self._call("GET", f"/v1/consortia/{cid}/codecryptions/{rid}/package").content

    def answer_codecryption(self, cid: int, rid: str, holder: str,
                            answer: bytes) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", f"/v1/consortia/{cid}/codecryptions/{rid}/answers/{holder}",
            content=answer).json()
        return result

    def codecryption(self, cid: int, rid: str) -> dict[str, Any]:
        """Who answered, refused (with the reason) and is missing (owner)."""
        result: dict[str, Any] = self._call(
            "GET", f"/v1/consortia/{cid}/codecryptions/{rid}").json()
        return result

    def codecryption_answer(self, cid: int, rid: str, holder: str) -> bytes:
        return self._call("GET",
                          f"/v1/consortia/{cid}/codecryptions/{rid}/answers/{holder}").content
