"""The edge agent's configuration file, read and checked at start.

TOML; relative paths are relative to the file:

    enrolment = "site.json"          # from the owner: cloud, token, owner key, package key
    data_dir = "edge-data"           # buffer, bundle, models, predictions
    schema = "schema.json"           # the consortium's schema (features and label)
    [source]                         # files, OPC UA or MQTT: see hedge.edge.sources
    folder = "incoming"              # CSV / Parquet files dropped here
    settle_seconds = 2.0             # taken once unchanged this long
    [upload]
    batch_rows = 2000                # rows per upload, once that many are pending
    max_wait_seconds = 300           # or once the oldest pending row waited this long
    class_weight = "balanced"        # optional; every site must choose the same
    l2 = 0.0                         # optional L2 penalty rows (as hedge encrypt --l2)
    [buffer]
    max_bytes = 104857600
    [alerts]                         # optional; MQTT topic, OPC UA nodes, threshold
    threshold = 0.5                  # (the model's signed policy, if any, comes first)
    hysteresis = 0.0
    [holder]                         # optional: the site holds a share of the key (threshold
    keystore = "holder/share.keystore"  # mode); see hedge.edge.holding

Uploads wait for a worthwhile batch: ciphertexts have a fixed size, so 2 rows cost as much
bandwidth, cloud storage and cloud training time as a ciphertext block full of rows, and every
upload tells the cloud when rows arrived. Rows are uploaded once `batch_rows` are pending, or
once the oldest pending row has waited `max_wait_seconds` (a finite number of seconds, zero or
more; default 300), or when the buffer is full; 0 uploads whatever is pending at every cycle.
The default caps a stream slower than `batch_rows` rows in five minutes at 288 uploads a day,
instead of one every cycle (17,280 a day at `hedge edge run`'s 5 s), while its rows reach the
cloud within about five minutes, well inside any training schedule; buffered rows are durable,
so waiting costs freshness only. `EdgeAgent.step(flush=True)` (`hedge edge run --once
--flush`) uploads everything pending at once.

With balanced class weights, every batch is weighted by the class counts of all rows the site
has buffered so far, so small batches need not hold both classes.
"""

from __future__ import annotations

import math
import os
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hedge.data import Schema
from hedge.edge.holding import HolderSettings, parse_holder
from hedge.edge.sources import AlertSettings, Source, parse_alerts, parse_source
from hedge.errors import HedgeError, ParameterError, SchemaError
from hedge.files import read_json
from hedge.wire.package import package_key
from hedge.wire.pki import enrolment_context
from hedge.wire.signing import VerifyKey

__all__ = ["EdgeConfig", "Enrolment"]

#: seconds the oldest pending row waits for a full batch (`[upload] max_wait_seconds`)
DEFAULT_MAX_WAIT = 300.0

_ENROLMENT_FIELDS = ("cloud", "consortium", "site", "token", "owner_key", "fingerprint",
                     "package_key")


@dataclass(frozen=True)
class Enrolment:
    """A site's enrolment file (from `hedge owner add-site`), parsed and checked once: where
    the cloud is and how to reach it (`tls`: mutual TLS context, or True for the system's
    trust store), the site's token, the consortium's key-set fingerprint, the owner's
    signature key and the site's package key."""

    cloud: str
    consortium: int
    site: str
    token: str = field(repr=False)
    fingerprint: str
    owner_key: VerifyKey
    package_key: bytes = field(repr=False)
    tls: ssl.SSLContext | bool

    @classmethod
    def load(cls, path: Path) -> Enrolment:
        """`SchemaError` naming the file for a missing or malformed field."""
        data = read_json(path, "site enrolment")
        missing = [f for f in _ENROLMENT_FIELDS if f not in data]
        try:
            if missing:
                raise SchemaError(f"lacks {missing[0]!r}")
            return cls(str(data["cloud"]), int(data["consortium"]), str(data["site"]),
                       str(data["token"]), str(data["fingerprint"]),
                       VerifyKey.from_str(str(data["owner_key"])),
                       package_key(str(data["package_key"])), enrolment_context(data))
        except (TypeError, ValueError, HedgeError) as exc:
            raise SchemaError(f"the enrolment file {path} is not usable ({exc}); ask the owner "
                              "for a new one (hedge owner add-site)") from exc


@dataclass(frozen=True)
class EdgeConfig:
    enrolment: Enrolment
    data_dir: Path
    schema: Schema
    source: Source
    alerts: AlertSettings = field(default_factory=AlertSettings)
    batch_rows: int = 2000
    class_weight: str | None = None
    max_bytes: int = 100 * 2**20
    l2: float = 0.0  # L2 penalty rows for regularised training (as `hedge encrypt --l2`)
    max_wait_seconds: float = DEFAULT_MAX_WAIT  # fewer than batch_rows rows wait this long
    holder: HolderSettings | None = None  # the site as key holder (threshold mode)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EdgeConfig:
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SchemaError(f"{file} is not a readable edge configuration: {exc}") from exc
        base = file.parent

        def where(value: Any, name: str) -> Path:
            if not isinstance(value, str) or not value:
                raise SchemaError(f"{file}: '{name}' must name a path")
            return base / value

        try:
            enrolment = Enrolment.load(where(raw.get("enrolment"), "enrolment"))
            upload = raw.get("upload", {})
            schema = Schema.load(where(raw.get("schema"), "schema"))
            source = parse_source(raw.get("source", {}), schema, base, str(file))
            config = cls(enrolment, where(raw.get("data_dir"), "data_dir"), schema, source,
                         parse_alerts(raw.get("alerts", {}), source, str(file)),
                         int(upload.get("batch_rows", 2000)), upload.get("class_weight"),
                         int(raw.get("buffer", {}).get("max_bytes", 100 * 2**20)),
                         _penalty(upload.get("l2", 0.0), file),
                         _seconds(upload.get("max_wait_seconds", DEFAULT_MAX_WAIT), file),
                         parse_holder(raw.get("holder"), base, str(file)))
        except (TypeError, ValueError, AttributeError, HedgeError) as exc:
            if isinstance(exc, SchemaError | ParameterError):  # these name the file already
                raise
            raise SchemaError(f"{file}: {exc}") from exc
        if config.batch_rows < 1 or config.max_bytes < 1 or config.class_weight not in (
                None, "balanced"):
            raise SchemaError(f"{file}: batch_rows and max_bytes must be positive, "
                              "class_weight 'balanced' or absent")
        if config.schema.label is None:
            raise SchemaError(f"{file}: the schema needs the label the model is trained on")
        return config


def _penalty(value: Any, file: Path) -> float:
    """`[upload] l2`: a finite number, zero or more (`ParameterError` naming the file
    otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value >= 0):
        raise ParameterError(f"{file}: [upload] l2 must be a finite number, zero or more (0: no "
                             f"penalty; every site must choose the same), not {value!r}")
    return float(value)


def _seconds(value: Any, file: Path) -> float:
    """`[upload] max_wait_seconds`: a finite number, zero or more (`SchemaError` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value >= 0):
        raise SchemaError(f"{file}: [upload] max_wait_seconds must be a number of seconds, "
                          f"zero or more (0: upload whatever is pending), not {value!r}")
    return float(value)
