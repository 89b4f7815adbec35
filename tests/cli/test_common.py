"""The command modules' shared TLS options: a missing partner option stops the command with
what to add; serving beyond loopback without TLS warns."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import typer

from hedge.cli._common import tls_options

CERT, KEY, CA = Path("cert.pem"), Path("key.pem"), Path("ca.pem")


@pytest.mark.parametrize(("certfile", "keyfile", "client_ca", "says"), [
    (CERT, None, None, "give both --ssl-certfile and --ssl-keyfile"),
    (None, KEY, None, "give both --ssl-certfile and --ssl-keyfile"),
    (None, None, CA, "--client-ca needs TLS"),
])
def test_an_option_without_its_partner_stops_with_what_to_add(
        certfile: Path | None, keyfile: Path | None, client_ca: Path | None, says: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as stopped:
        tls_options("127.0.0.1", certfile, keyfile, client_ca)
    assert stopped.value.exit_code == 1
    assert says in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(("host", "warns"), [("0.0.0.0", True), ("192.0.2.7", True),
                                             ("127.0.0.1", False), ("localhost", False),
                                             ("::1", False)])
def test_serving_beyond_loopback_without_tls_warns(
        host: str, warns: bool, capsys: pytest.CaptureFixture[str]) -> None:
    options = tls_options(host, None, None)
    said = " ".join(capsys.readouterr().err.split())
    assert ("without TLS: tokens and data travel in clear" in said) is warns
    assert options["ssl_certfile"] is None and options["ssl_cert_reqs"] == ssl.CERT_NONE


def test_tls_and_mutual_tls_become_uvicorns_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert tls_options("0.0.0.0", CERT, KEY) == {
        "ssl_certfile": "cert.pem", "ssl_keyfile": "key.pem", "ssl_ca_certs": None,
        "ssl_cert_reqs": ssl.CERT_NONE}
    assert tls_options("0.0.0.0", CERT, KEY, CA)["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert capsys.readouterr().err == ""  # with TLS, no warning
