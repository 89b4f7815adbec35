"""`MqttSettings` against a real Mosquitto of our own: user and password, TLS verifying the
broker against our CA, and mutual TLS with a client certificate each carry a message, and each
refuses the client it should (wrong or no credentials, a broker from another CA, no client
certificate)."""

from __future__ import annotations

import queue
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hedge.sim.broker import BrokerTls
from hedge.wire.mqtt_settings import MqttSettings
from hedge.wire.pki import CertificateAuthority
from tests.edge.machines import own_mosquitto


@dataclass(frozen=True)
class Pki:
    ca: Path  # our CA's certificate
    other_ca: Path  # a CA that issued nothing here
    server: BrokerTls  # the broker's certificate (127.0.0.1) and key, from our CA
    edge_cert: Path  # a client certificate from our CA
    edge_key: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = CertificateAuthority.create("test")
    (folder / "ca.pem").write_bytes(ca.cert_pem)
    (folder / "other-ca.pem").write_bytes(CertificateAuthority.create("other").cert_pem)
    ca.issue("broker", "server", hosts=("127.0.0.1",)).save(folder / "broker.pem",
                                                            folder / "broker.key")
    ca.issue("edge", "client").save(folder / "edge.pem", folder / "edge.key")
    return Pki(folder / "ca.pem", folder / "other-ca.pem",
               BrokerTls(folder / "ca.pem", folder / "broker.pem", folder / "broker.key"),
               folder / "edge.pem", folder / "edge.key")


def attempt(settings: MqttSettings) -> str:
    """'carried' if a client of `settings` connected, subscribed and got back the message it
    published (QoS 1); otherwise how it failed: 'refused: <CONNACK reason>', 'TLS: <handshake
    error>' or 'lost: <reason>' (the broker closed the connection without a CONNACK). The
    client's network loop runs here (no thread, so no automatic reconnection)."""
    client = settings.client()
    events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    client.on_connect = lambda c, u, flags, reason, p: events.put(("connack", reason))
    client.on_disconnect = lambda c, u, flags, reason, p: events.put(("lost", reason))
    client.on_subscribe = lambda c, u, mid, reasons, p: events.put(("suback", reasons))
    client.on_message = lambda c, u, message: events.put(("message", message.payload))

    def next_event() -> tuple[str, Any]:
        deadline = time.monotonic() + 5
        while events.empty():
            assert time.monotonic() < deadline, "the broker did not answer within 5 s"
            client.loop(0.05)
        return events.get()

    try:
        client.connect(settings.host, settings.port, keepalive=10)  # with the TLS handshake
    except ssl.SSLError as exc:
        return f"TLS: {exc}"
    try:
        kind, answer = next_event()
        if kind == "lost":
            return f"lost: {answer}"
        if answer.is_failure:
            return f"refused: {answer}"
        client.subscribe("t/x", qos=1)
        kind, answer = next_event()
        assert kind == "suback" and not any(r.is_failure for r in answer), (kind, answer)
        client.publish("t/x", b"hello", qos=1)
        assert next_event() == ("message", b"hello")
        return "carried"
    finally:
        client.disconnect()


def test_the_right_user_and_password_connect_and_carry_a_message(tmp_path: Path) -> None:
    with own_mosquitto(tmp_path / "b", users={"edge": "p@ss:word", "sim": "other"}) as port:
        # in the URL, percent-encoded; explicit credentials override the URL's
        assert attempt(MqttSettings.parse(f"mqtt://edge:p%40ss%3Aword@127.0.0.1:{port}")) == \
            "carried"
        assert attempt(MqttSettings.parse(f"mqtt://edge:wrong@127.0.0.1:{port}",
                                          password="p@ss:word")) == "carried"
        assert attempt(MqttSettings.parse(f"mqtt://127.0.0.1:{port}", username="sim",
                                          password="other")) == "carried"


def test_a_wrong_password_an_unknown_user_and_no_credentials_are_refused(
        tmp_path: Path) -> None:
    with own_mosquitto(tmp_path / "b", users={"edge": "secret"}) as port:
        for url in (f"mqtt://edge:wrong@127.0.0.1:{port}", f"mqtt://edge@127.0.0.1:{port}",
                    f"mqtt://nobody:secret@127.0.0.1:{port}", f"mqtt://127.0.0.1:{port}"):
            assert attempt(MqttSettings.parse(url)).startswith("refused: "), url


def test_tls_verifies_the_broker_against_the_ca_and_carries_a_message(tmp_path: Path,
                                                                      pki: Pki) -> None:
    with own_mosquitto(tmp_path / "b", tls=pki.server) as port:
        assert attempt(MqttSettings.parse(f"mqtts://127.0.0.1:{port}", ca_file=pki.ca)) == \
            "carried"
        # the listener speaks TLS only: a plain client gets no CONNACK
        assert attempt(MqttSettings.parse(f"mqtt://127.0.0.1:{port}")).startswith("lost: ")


def test_tls_refuses_a_broker_whose_certificate_another_ca_issued(tmp_path: Path,
                                                                  pki: Pki) -> None:
    with own_mosquitto(tmp_path / "b", tls=pki.server) as port:
        for trusted in (pki.other_ca, None):  # None: the system's roots
            outcome = attempt(MqttSettings.parse(f"mqtts://127.0.0.1:{port}", ca_file=trusted))
            assert outcome.startswith("TLS: ") and "certificate verify failed" in outcome


def test_mutual_tls_carries_a_message_only_with_a_client_certificate(tmp_path: Path,
                                                                     pki: Pki) -> None:
    mutual = BrokerTls(pki.server.ca_file, pki.server.cert_file, pki.server.key_file,
                       require_certificate=True)
    with own_mosquitto(tmp_path / "b", tls=mutual) as port:
        url = f"mqtts://127.0.0.1:{port}"
        assert attempt(MqttSettings.parse(url, ca_file=pki.ca, cert_file=pki.edge_cert,
                                          key_file=pki.edge_key)) == "carried"
        # TLS 1.3: the client finishes its handshake; the broker then refuses with an alert
        without = attempt(MqttSettings.parse(url, ca_file=pki.ca))
        assert without.startswith(("TLS: ", "lost: ")), without
