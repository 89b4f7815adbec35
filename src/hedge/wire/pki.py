"""The owner's certificate authority for mutual TLS (X.509 via `cryptography`).

With mutual TLS the cloud accepts a connection only from a client that presents a certificate
issued by the owner's CA: the owner itself and its enrolled sites. The same CA issues the cloud's
server certificate, so clients trust exactly the owner's CA, not the public CA system. API
tokens still decide what a client may do (a certificate only lets it talk to the service).

Keys are ECDSA P-256. The CA certificate may issue leaf certificates only (path length 0); a
client certificate is good for TLS client authentication only, a server certificate for server
authentication only, with its host names and addresses as subject alternative names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hedge.errors import CorruptDataError, ParameterError, SchemaError
from hedge.files import write_atomic
from hedge.wire.signing import load_private_key, save_private_key

__all__ = ["CertificateAuthority", "Credential", "client_context", "enrolment_context"]

_CA_DAYS, _LEAF_DAYS = 3650, 825


@dataclass(frozen=True)
class Credential:
    """A certificate and its private key, both PEM (the key unencrypted: store it 0600)."""

    cert_pem: bytes
    key_pem: bytes

    def save(self, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> None:
        write_atomic(cert_path, self.cert_pem)
        write_atomic(key_path, self.key_pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hedge"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class CertificateAuthority:
    """The owner's CA: a key and a self-signed certificate that issues leaf certificates."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self._key, self.cert = key, cert

    @classmethod
    def create(cls, name: str, days: int = _CA_DAYS) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = _name(f"{name} CA")
        public = key.public_key()
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(public).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(Encoding.PEM)

    def issue(self, name: str, role: Literal["client", "server"], *,
              hosts: tuple[str, ...] = (), days: int = _LEAF_DAYS) -> Credential:
        """A new key and a certificate for `name`: a client (the owner, a site) or the cloud
        service (`hosts`: the names and addresses clients connect to, at least one)."""
        if not name or len(name) > 64:
            raise ParameterError("a certificate name has 1 to 64 characters")
        if role == "server" and not hosts:
            raise ParameterError("a server certificate needs the host names or addresses "
                                 "its clients connect to (--host)")
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if role == "server" else \
            ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (x509.CertificateBuilder().subject_name(_name(name))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(min(now + dt.timedelta(days=days),
                                        self.cert.not_valid_after_utc))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=True, key_cert_sign=False,
                                                crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self._key.public_key()), critical=False))
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Credential(cert.public_bytes(Encoding.PEM),
                          key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))

    def save(self, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str], *,
             passphrase: str) -> None:
        """The certificate as PEM; the key as passphrase-encrypted PKCS#8 PEM (mode 0600)."""
        write_atomic(cert_path, self.cert_pem)
        save_private_key(key_path, self._key, passphrase)

    @classmethod
    def load(cls, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str], *,
             passphrase: str) -> CertificateAuthority:
        try:
            cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        except FileNotFoundError:
            raise CorruptDataError(f"{cert_path} does not exist") from None
        except ValueError as exc:
            raise CorruptDataError(f"{cert_path} is not a PEM certificate: {exc}") from exc
        key = load_private_key(key_path, passphrase, "a CA key")
        if not isinstance(key, ec.EllipticCurvePrivateKey) or \
                key.public_key() != cert.public_key():
            raise CorruptDataError(f"{key_path} is not the key of the CA certificate {cert_path}")
        return cls(key, cert)


def client_context(ca_pem: bytes, credential: Credential | None = None) -> ssl.SSLContext:
    """A TLS client context that trusts only `ca_pem` (the owner's CA) and, with a
    `credential`, presents it to the server (mutual TLS)."""
    try:
        context = ssl.create_default_context(cadata=ca_pem.decode())
    except (ssl.SSLError, ValueError) as exc:
        raise CorruptDataError(f"the CA certificate is not PEM: {exc}") from exc
    if credential is not None:
        # `ssl` loads certificate chains from files only: a private directory, removed at once
        with tempfile.TemporaryDirectory(prefix="hedge-tls-") as tmp:
            cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            cert.write_bytes(credential.cert_pem)
            key.touch(0o600)
            key.write_bytes(credential.key_pem)
            try:
                context.load_cert_chain(cert, key)
            except ssl.SSLError as exc:
                raise CorruptDataError(f"the client certificate or its key is unusable: "
                                       f"{exc}") from exc
    return context


def enrolment_context(enrolment: dict[str, Any]) -> ssl.SSLContext | bool:
    """How a site connects: with mutual TLS when its enrolment carries a certificate,
    otherwise with the system's trust store."""
    tls = enrolment.get("tls")
    if tls is None:
        return True
    try:
        return client_context(str(tls["ca"]).encode(),
                              Credential(str(tls["cert"]).encode(), str(tls["key"]).encode()))
    except (KeyError, TypeError) as exc:
        raise SchemaError(f"the enrolment's tls entry is malformed ({exc}); ask the owner for "
                          "a new enrolment file") from exc

