"""The owner's CA: what it issues, how its key is stored, and the client contexts built on it."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hedge.errors import CorruptDataError, ParameterError, SchemaError, WrongPassphraseError
from hedge.wire.pki import CertificateAuthority, Credential, client_context, enrolment_context

PASSPHRASE = "a long test passphrase"


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("acme")


def test_the_ca_issues_leaf_certificates_only(ca: CertificateAuthority) -> None:
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert ca.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "acme CA"


def test_client_certificates_authenticate_clients_only(ca: CertificateAuthority) -> None:
    issued = x509.load_pem_x509_certificate(ca.issue("plant-1", "client").cert_pem)
    issued.verify_directly_issued_by(ca.cert)
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "plant-1"
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not issued.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert issued.not_valid_after_utc <= ca.cert.not_valid_after_utc


def test_server_certificates_name_their_hosts(ca: CertificateAuthority) -> None:
    issued = x509.load_pem_x509_certificate(
        ca.issue("cloud", "server", hosts=("127.0.0.1", "cloud.example")).cert_pem)
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["cloud.example"]
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(ParameterError, match="host"):
        ca.issue("cloud", "server")
    with pytest.raises(ParameterError, match="1 to 64"):
        ca.issue("x" * 65, "client")


def test_the_ca_key_is_stored_encrypted(ca: CertificateAuthority, tmp_path: Path) -> None:
    ca.save(tmp_path / "ca.pem", tmp_path / "ca-key.pem", passphrase=PASSPHRASE)
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "ca-key.pem").read_bytes()
    assert oct((tmp_path / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    again = CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem",
                                      passphrase=PASSPHRASE)
    x509.load_pem_x509_certificate(again.issue("s", "client").cert_pem
                                   ).verify_directly_issued_by(ca.cert)
    with pytest.raises(WrongPassphraseError):
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem",
                                  passphrase="wrong")
    other = CertificateAuthority.create("other")
    other.save(tmp_path / "o.pem", tmp_path / "o-key.pem", passphrase=PASSPHRASE)
    with pytest.raises(CorruptDataError, match="not the key"):
        CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "o-key.pem",
                                  passphrase=PASSPHRASE)
    with pytest.raises(CorruptDataError, match="does not exist"):
        CertificateAuthority.load(tmp_path / "nope.pem", tmp_path / "o-key.pem",
                                  passphrase=PASSPHRASE)
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(CorruptDataError, match="not a PEM"):
        CertificateAuthority.load(tmp_path / "bad.pem", tmp_path / "o-key.pem",
                                  passphrase=PASSPHRASE)


def test_client_contexts(ca: CertificateAuthority) -> None:
    context = client_context(ca.cert_pem, ca.issue("plant-1", "client"))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with pytest.raises(CorruptDataError, match="CA certificate"):
        client_context(b"garbage")
    mismatched = Credential(ca.issue("a", "client").cert_pem, ca.issue("b", "client").key_pem)
    with pytest.raises(CorruptDataError, match="unusable"):
        client_context(ca.cert_pem, mismatched)


def test_enrolment_contexts(ca: CertificateAuthority) -> None:
    assert enrolment_context({}) is True
    issued = ca.issue("plant-1", "client")
    tls = {"ca": ca.cert_pem.decode(), "cert": issued.cert_pem.decode(),
           "key": issued.key_pem.decode()}
    assert isinstance(enrolment_context({"tls": tls}), ssl.SSLContext)
    with pytest.raises(SchemaError, match="malformed"):
        enrolment_context({"tls": {"ca": tls["ca"]}})
