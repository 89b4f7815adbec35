"""hedge.wire.protocol: the loopback rule, and each party loading only its own machinery."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    TooLargeError,
)
from hedge.wire.protocol import error_body, is_loopback_host, is_loopback_url, refusal_class


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8765/", True), ("http://127.8.0.1", True), ("http://localhost/x", True),
    ("http://[::1]:80/", True), ("http://10.0.0.5", False), ("https://keys.example", False),
    ("http://localhost.evil.net", False), ("http://127.0.0.1.evil.net", False),
    ("not a url", False), ("", False)])
def test_only_this_machine_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_a_host_is_loopback_by_name_or_address() -> None:
    assert is_loopback_host("localhost") and is_loopback_host("::1")
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host("example.org")


def loaded_by(*modules: str) -> set[str]:
    """The hedge and service modules a fresh interpreter holds after importing `modules`."""
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return set(out.split())


def test_the_cloud_loads_none_of_the_owners_code() -> None:
    loaded = loaded_by("hedge.cloud.app", "hedge.cloud.worker", "hedge.cloud.service")
    assert "hedge.cloud.worker" in loaded and "hedge.wire.keyservice_client" in loaded
    assert not {m for m in loaded if m.startswith("hedge.owner")}


def test_the_owner_and_the_edge_load_only_the_clouds_client() -> None:
    loaded = loaded_by("hedge.owner.workspace", "hedge.edge.agent")
    assert "hedge.wire.cloud_client" in loaded
    assert not {m for m in loaded if m.startswith(("hedge.cloud.db", "hedge.cloud.jobs",
                                                    "hedge.cloud.app", "sqlalchemy"))}


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"detail": "why", "error": "PolicyError"}', ("why", "PolicyError")),
    (b'{"detail": [{"loc": ["x"]}]}', ("[{'loc': ['x']}]", None)),
    (b'{"error": 3}', (None, None)), (b"[1, 2]", (None, None)),
    (b"<html>413 Request Entity Too Large</html>", (None, None)), (b"", (None, None))])
def test_a_refusal_s_body_gives_its_detail_and_error_name(
        body: bytes, expected: tuple[str | None, str | None]) -> None:
    assert error_body(body) == expected


@pytest.mark.parametrize(("status", "error", "expected"), [
    (403, "KeyMismatchError", KeyMismatchError), (500, "CorruptDataError", CorruptDataError),
    (500, "RotationKeyError", HedgeError), (503, None, HedgeError),
    (400, "DepthExhaustedError", CorruptDataError), (413, None, TooLargeError),
    (409, None, PolicyError), (404, "NoSuchError", PolicyError), (400, None, CorruptDataError),
    (422, None, ParameterError)])
def test_a_refusal_raises_the_error_it_names_else_one_its_status_means(
        status: int, error: str | None, expected: type[HedgeError]) -> None:
    assert refusal_class(status, error) is expected


def test_every_service_refuses_an_error_with_the_status_of_the_one_table() -> None:
    """`hedge.wire.protocol.HTTP_STATUS`: the cloud and the key service answer alike (a key set
    mismatch is 409 at both, a secret key where none belongs 422); a bare `HedgeError` is the
    service's failure (500), any other hedge error 400; and a client reads each answer back
    as the error it names (those it does not name, as the status says)."""
    from hedge.errors import (
        DepthExhaustedError,
        HedgeError,
        KeyMismatchError,
        PolicyError,
        SecretMaterialError,
        TooLargeError,
        WrongPassphraseError,
    )
    from hedge.wire.protocol import http_status, is_hedge_error

    cases = {TooLargeError("x"): 413, SecretMaterialError("x"): 422, PolicyError("x"): 403,
             KeyMismatchError("x"): 409, WrongPassphraseError("x"): 400,
             DepthExhaustedError("x", 2, 1): 400, HedgeError("x"): 500}
    for error, status in cases.items():
        assert http_status(error) == status, error
        named = refusal_class(status, type(error).__name__)
        assert isinstance(error, named) or not is_hedge_error(type(error).__name__)
