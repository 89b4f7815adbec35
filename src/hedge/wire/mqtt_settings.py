"""MQTT connection settings shared by the machine simulator and the edge (paho-mqtt).

A broker is named by a URL: `mqtt://host[:1883]` or, over TLS, `mqtts://host[:8883]`, with an
optional `user[:password]@`. TLS verifies the broker against `ca_file` (or the system's
roots); `cert_file`/`key_file` add a client certificate. Clients speak MQTT 3.1.1; a persistent
session (`clean_session=False`) keeps a subscriber's QoS 1 messages at the broker while it is
away (as many as the broker's `max_queued_messages` allows).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hedge.errors import ParameterError

__all__ = ["MqttSettings"]

_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def parse(cls, url: str, *, username: str | None = None, password: str | None = None,
              ca_file: Path | None = None, cert_file: Path | None = None,
              key_file: Path | None = None) -> MqttSettings:
        """Settings from a broker URL; explicit credentials override those in the URL."""
        parts = urlsplit(url)
        if parts.scheme not in _PORTS or not parts.hostname:
            raise ParameterError(f"{url!r} is not a broker URL; write mqtt://HOST[:PORT] or "
                                 "mqtts://HOST[:PORT] (TLS)")
        try:
            port = parts.port or _PORTS[parts.scheme]
        except ValueError as exc:
            raise ParameterError(f"{url!r}: {exc}") from exc
        if (cert_file is None) != (key_file is None):
            raise ParameterError("a client certificate needs both its certificate and its key")
        tls = parts.scheme == "mqtts"
        if not tls and (ca_file or cert_file):
            raise ParameterError(f"{url!r} is not TLS; use mqtts:// with certificates")
        user = username if username is not None else (
            unquote(parts.username) if parts.username else None)
        secret = password if password is not None else (
            unquote(parts.password) if parts.password else None)
        return cls(parts.hostname, port, tls, user, secret, ca_file, cert_file, key_file)

    def client(self, client_id: str = "", *, persistent: bool = False,
               manual_ack: bool = False) -> paho.Client:
        """A configured client, not yet connected (`connect(host, port)` then a loop)."""
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=not persistent, protocol=paho.MQTTv311,
                             manual_ack=manual_ack)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            context = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None and self.key_file is not None:
                context.load_cert_chain(self.cert_file, self.key_file)
            client.tls_set_context(context)
        return client

    @property
    def display(self) -> str:
        """The broker without credentials (for logs)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
