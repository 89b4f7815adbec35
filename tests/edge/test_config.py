"""EdgeConfig.load: the enrolment is parsed and checked once, and every refusal names the file
and the field."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hedge.data import Schema
from hedge.edge.config import EdgeConfig, Enrolment
from hedge.errors import ParameterError, SchemaError
from hedge.wire.package import new_package_key
from hedge.wire.pki import CertificateAuthority
from hedge.wire.signing import SigningKey

OWNER = SigningKey()
KEY = new_package_key()
ENROLMENT = {"version": 1, "cloud": "https://cloud.example", "consortium": 3, "site": "plant-1",
             "token": "t" * 32, "owner_key": str(OWNER.verify_key), "fingerprint": "f" * 64,
             "package_key": base64.b64encode(KEY).decode()}


def write(folder: Path, enrolment: dict[str, Any]) -> Path:
    (folder / "site.json").write_text(json.dumps(enrolment))
    frame = pd.DataFrame({"temp": [300.0, 310.0], "fail": [0, 1]})
    Schema.infer(frame, label="fail").save(folder / "schema.json")
    config = folder / "edge.toml"
    config.write_text('enrolment = "site.json"\ndata_dir = "data"\nschema = "schema.json"\n'
                      '[source]\nfolder = "incoming"\n')
    return config


def test_the_enrolment_is_parsed_into_typed_fields(tmp_path: Path) -> None:
    config = EdgeConfig.load(write(tmp_path, ENROLMENT))
    e = config.enrolment
    assert isinstance(e, Enrolment)
    assert (e.cloud, e.consortium, e.site, e.token) == ("https://cloud.example", 3, "plant-1",
                                                        "t" * 32)
    assert e.owner_key == OWNER.verify_key and e.package_key == KEY and e.tls is True
    assert config.data_dir == tmp_path / "data"
    assert "t" * 32 not in repr(config) and repr(KEY) not in repr(config)  # no secrets in logs


def test_a_tls_enrolment_gives_a_context_trusting_the_owners_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("owner")
    site = ca.issue("plant-1", "client")
    tls = {"ca": ca.cert_pem.decode(), "cert": site.cert_pem.decode(),
           "key": site.key_pem.decode()}
    e = EdgeConfig.load(write(tmp_path, {**ENROLMENT, "tls": tls})).enrolment
    assert not isinstance(e.tls, bool)
    assert e.tls.get_ca_certs()[0]["subject"][-1][0][1] == "owner CA"


@pytest.mark.parametrize(("change", "message"), [
    ({"token": None}, "lacks 'token'"),
    ({"consortium": "three"}, "invalid literal"),
    ({"package_key": "not base64!"}, "package key is not base64"),
    ({"package_key": base64.b64encode(b"short").decode()}, "package key has 32 bytes"),
    ({"owner_key": "AAAA"}, "key"),
    ({"tls": {"ca": "x"}}, "tls entry is malformed"),
])
def test_a_bad_enrolment_names_the_file_and_the_field(tmp_path: Path, change: dict[str, Any],
                                                      message: str) -> None:
    enrolment = {k: v for k, v in {**ENROLMENT, **change}.items() if v is not None}
    with pytest.raises(SchemaError, match=message) as refused:
        EdgeConfig.load(write(tmp_path, enrolment))
    assert f"the enrolment file {tmp_path / 'site.json'} is not usable" in str(refused.value)


def test_a_schema_nested_too_deeply_is_refused_naming_its_file(tmp_path: Path) -> None:
    config = write(tmp_path, ENROLMENT)
    (tmp_path / "schema.json").write_text("[" * 100_000)
    with pytest.raises(SchemaError, match="nested too deeply") as refused:
        EdgeConfig.load(config)
    assert str(tmp_path / "schema.json") in str(refused.value)


@pytest.mark.parametrize("l2", ["-1", "inf", "nan", '"0.5"', "true"])
def test_the_l2_penalty_must_be_a_finite_number_zero_or_more(tmp_path: Path, l2: str) -> None:
    config = write(tmp_path, ENROLMENT)
    config.write_text(config.read_text() + f"[upload]\nl2 = {l2}\n")
    with pytest.raises(ParameterError, match=r"\[upload\] l2 must be") as refused:
        EdgeConfig.load(config)
    assert str(config) in str(refused.value)
    config.write_text(config.read_text().replace(f"l2 = {l2}", "l2 = 0.5"))
    assert EdgeConfig.load(config).l2 == 0.5
