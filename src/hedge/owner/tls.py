"""Mutual TLS on the owner's side: the CA in the owner's directory, the owner's own client
certificate, the cloud's server certificate and the sites' client certificates.

Files under the owner's directory (`tls/`):

    ca.pem, ca-key.pem        the CA (its key passphrase-encrypted, 0600)
    owner.pem, owner-key.pem  the owner's client certificate (key 0600)
    cloud/                    for the cloud's operator: cert.pem, key.pem (the service's
                              certificate) and client-ca.pem (whom to accept), used as
                              `hedge cloud serve --ssl-certfile cloud/cert.pem
                              --ssl-keyfile cloud/key.pem --client-ca cloud/client-ca.pem`

A site's certificate travels inside its enrolment file (with its token and package key), which
the owner hands over out of band.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from hedge.errors import ParameterError
from hedge.files import write_atomic
from hedge.wire.pki import CertificateAuthority, Credential, client_context

__all__ = ["has_tls", "init_tls", "owner_context", "site_credential"]


def _dir(root: str | os.PathLike[str]) -> Path:
    return Path(root) / "tls"


def has_tls(root: str | os.PathLike[str]) -> bool:
    return (_dir(root) / "ca.pem").exists()


def init_tls(root: str | os.PathLike[str], name: str, hosts: tuple[str, ...], *,
             passphrase: str) -> Path:
    """Create the CA, the owner's client certificate and the cloud's server certificate (for
    `hedge cloud serve` at `hosts`); returns the directory to hand to the cloud's operator."""
    tls = _dir(root)
    if has_tls(root):
        raise ParameterError(f"{tls} holds a CA already; a new one would lock out every "
                             "enrolled site")
    ca = CertificateAuthority.create(name)
    ca.save(tls / "ca.pem", tls / "ca-key.pem", passphrase=passphrase)
    ca.issue("owner", "client").save(tls / "owner.pem", tls / "owner-key.pem")
    ca.issue("cloud", "server", hosts=hosts).save(tls / "cloud" / "cert.pem",
                                                  tls / "cloud" / "key.pem")
    write_atomic(tls / "cloud" / "client-ca.pem", ca.cert_pem)
    return tls / "cloud"


def owner_context(root: str | os.PathLike[str]) -> ssl.SSLContext | None:
    """The owner's client context (trusts the CA, presents the owner's certificate), or None
    when the owner uses no TLS of its own."""
    tls = _dir(root)
    if not has_tls(root):
        return None
    return client_context((tls / "ca.pem").read_bytes(),
                          Credential((tls / "owner.pem").read_bytes(),
                                     (tls / "owner-key.pem").read_bytes()))


def site_credential(root: str | os.PathLike[str], site: str, *,
                    passphrase: str) -> dict[str, str]:
    """A new client certificate for `site`, as the enrolment file's `tls` entry."""
    tls = _dir(root)
    ca = CertificateAuthority.load(tls / "ca.pem", tls / "ca-key.pem", passphrase=passphrase)
    issued = ca.issue(site, "client")
    return {"ca": ca.cert_pem.decode(), "cert": issued.cert_pem.decode(),
            "key": issued.key_pem.decode()}

