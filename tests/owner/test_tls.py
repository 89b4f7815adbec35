"""Mutual TLS end to end: the owner's CA, `hedge cloud serve --client-ca` as a real process,
the owner and an enrolled site connecting with their certificates, everyone else refused."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hedge.cli.main import app
from hedge.data import Schema
from hedge.edge import EdgeConfig
from hedge.errors import ParameterError, PolicyError, SchemaError, WrongPassphraseError
from hedge.ml import LinearModel, plan_training
from hedge.owner.tls import init_tls, owner_context
from hedge.owner.workspace import OwnerWorkspace
from hedge.services import CloudProcess
from hedge.wire.cloud_client import CloudClient
from hedge.wire.pki import CertificateAuthority, client_context, enrolment_context
from tests.cli.invoke import invoker

runner = CliRunner()
PASSPHRASE = "a long test passphrase"


hedge = invoker({"HEDGE_PASSPHRASE": PASSPHRASE})


@pytest.fixture(scope="module")
def owner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("owner")
    hedge("owner", "tls-init", "--dir", root, "--host", "127.0.0.1")
    return root


@pytest.fixture(scope="module")
def server(owner_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    cloud = owner_dir / "tls" / "cloud"
    s = CloudProcess(tmp_path_factory.mktemp("cloud"),
                     ["--workers", "0", "--ssl-certfile", str(cloud / "cert.pem"),
                      "--ssl-keyfile", str(cloud / "key.pem"),
                      "--client-ca", str(cloud / "client-ca.pem")],
                     tls=owner_context(owner_dir))
    s.start()
    yield s
    s.stop()


def test_owner_and_sites_connect_with_their_certificates(owner_dir: Path, server: CloudProcess,
                                                         tmp_path: Path) -> None:
    plan = plan_training("logistic", 2, 1000, iterations=1)
    dataclasses.replace(plan, preset="fast", rotation_steps=[1]).save(tmp_path / "plan.json")
    hedge("owner", "init", "--plan", tmp_path / "plan.json", "--cloud", server.url,
          "--admin-token-file", server.data_dir / "admin.token", "--name", "acme",
          "--dir", owner_dir)
    hedge("owner", "add-site", "plant-1", "--dir", owner_dir)
    enrolment = json.loads((owner_dir / "sites" / "plant-1.json").read_text())
    assert {"ca", "cert", "key"} <= set(enrolment["tls"])
    assert "plant-1" in hedge("owner", "status", "--dir", owner_dir)

    site = CloudClient(server.url, enrolment["token"], verify=enrolment_context(enrolment))
    try:
        assert site.latest_deployment(enrolment["consortium"]) is None
        assert len(site.bundle(enrolment["consortium"])) > 0
    finally:
        site.close()
    # the edge agent reads the certificate from its enrolment file
    Schema.infer(pd.DataFrame({"a": [0.0, 1.0], "y": [0, 1]}), "y").save(tmp_path / "schema.json")
    (tmp_path / "site.json").write_text(json.dumps({**enrolment, "tls": {"ca": "x"}}))
    (tmp_path / "edge.toml").write_text('enrolment = "site.json"\ndata_dir = "d"\n'
                                        'schema = "schema.json"\n[source]\nfolder = "in"\n')
    with pytest.raises(SchemaError, match="tls entry is malformed"):
        EdgeConfig.load(tmp_path / "edge.toml")

    hedge("owner", "revoke-site", "plant-1", "--dir", owner_dir)  # certificate or not
    site = CloudClient(server.url, enrolment["token"], verify=enrolment_context(enrolment),
                       retries=0)
    try:
        with pytest.raises(PolicyError, match="401"):
            site.latest_deployment(enrolment["consortium"])
    finally:
        site.close()
    with pytest.raises(PolicyError, match="revoked"):
        OwnerWorkspace.open(owner_dir).deploy(LinearModel(["a"], 0.0, np.ones(1)), PASSPHRASE,
                                              ["plant-1"])

    with pytest.raises(ParameterError, match="passphrase"):  # the CA key signs site certs
        OwnerWorkspace.open(owner_dir).add_site("plant-2")
    with pytest.raises(WrongPassphraseError):
        OwnerWorkspace.open(owner_dir).add_site("plant-2", "wrong")
    assert "plant-2" not in OwnerWorkspace.open(owner_dir).state["sites"]  # nothing half done


def test_clients_without_an_owner_certificate_are_refused(owner_dir: Path,
                                                          server: CloudProcess) -> None:
    ca_pem = (owner_dir / "tls" / "ca.pem").read_bytes()
    assert httpx.get(server.url + "/health", verify=owner_context(owner_dir)).status_code == 200
    stranger = CertificateAuthority.create("stranger")
    for context in (client_context(ca_pem),  # no certificate at all
                    client_context(ca_pem, stranger.issue("plant-1", "client"))):
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/health", verify=context, timeout=10)
    with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port
        httpx.get(server.url.replace("https", "http") + "/health", timeout=10)
    # and a client that trusts only the owner's CA refuses a server the CA did not certify
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(server.url + "/health", timeout=10,
                  verify=client_context(stranger.cert_pem))


def test_a_second_ca_is_refused(owner_dir: Path) -> None:
    with pytest.raises(ParameterError, match="CA already"):
        init_tls(owner_dir, "again", ("127.0.0.1",), passphrase=PASSPHRASE)


def test_client_ca_needs_tls(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cloud", "serve", "--data-dir", str(tmp_path),
                                 "--client-ca", str(tmp_path / "ca.pem")])
    assert result.exit_code == 1 and "needs TLS" in result.output
