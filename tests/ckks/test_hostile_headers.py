"""Container headers crafted by another party (valid checksums, hostile fields): NaN and
Infinity tokens, numbers beyond a float, deep nesting, and fields of the wrong JSON type in
bundles and keystores are `CorruptDataError` naming the field, never a crash or a silent
conversion."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from hedge.ckks import KeySet, PublicBundle, _keystore, container
from hedge.ckks.container import FORMAT_VERSION, MAGIC, Kind
from hedge.errors import CorruptDataError, ParameterError, WrongPassphraseError

PASSPHRASE = "correct horse battery staple"
Fields = dict[str, Any]
#: An application's kind: the engine reads it knowing nothing of what it holds.
APPLICATION = container.APPLICATION_KINDS.start


def crafted(kind: int, header: str, records: Sequence[tuple[int, bytes]] = ()) -> bytes:
    """A container whose header is exactly `header` (text json.dumps would not write), with
    valid checksums."""
    head = header.encode()
    prefix = struct.pack("<8sHHI", MAGIC, FORMAT_VERSION, kind, len(head)) + head
    out = [prefix, struct.pack("<I", zlib.crc32(prefix))]
    for tag, payload in [*records, (0, struct.pack("<Q", len(records)))]:
        rec = struct.pack("<HQ", tag, len(payload))
        out += [rec, payload, struct.pack("<I", zlib.crc32(payload, zlib.crc32(rec)))]
    return b"".join(out)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_a_header_number_that_is_not_a_finite_float_is_corrupt_data(token: str) -> None:
    with pytest.raises(CorruptDataError, match="not plain JSON"):
        container.from_bytes(crafted(Kind.VECTOR, f'{{"length": {token}}}'), Kind.VECTOR)


def test_a_header_nested_deeper_than_hedge_writes_is_corrupt_data() -> None:
    deep = '{"schema": ' + "[" * 40 + "]" * 40 + "}"
    with pytest.raises(CorruptDataError, match="nests deeper"):
        container.from_bytes(crafted(APPLICATION, deep), APPLICATION)
    shallow = '{"schema": ' + "[" * 20 + "]" * 20 + "}"
    assert container.from_bytes(crafted(APPLICATION, shallow), APPLICATION)[0].fields


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_hedge_never_writes_a_header_it_would_refuse(value: float) -> None:
    with pytest.raises(ParameterError, match="NaN or infinite"):
        container.to_bytes(Kind.VECTOR, {"margin": value}, [])


# -- public bundles ---------------------------------------------------------------------------


def _bundle_parts(bundle: PublicBundle) -> tuple[Fields, list[tuple[int, bytes]]]:
    header, records = container.from_bytes(bundle.to_bytes(), Kind.BUNDLE)
    return header.fields, records


@pytest.fixture(scope="module")
def small_bundle(other_keys: KeySet) -> PublicBundle:
    return other_keys.public()


def _params(field: str, value: Any) -> Callable[[Fields], None]:
    def change(fields: Fields) -> None:
        fields["params"][field] = value
    return change


def _top(field: str, value: Any) -> Callable[[Fields], None]:
    def change(fields: Fields) -> None:
        fields[field] = value
    return change


@pytest.mark.parametrize(("change", "field"), [
    (_params("poly_modulus_degree", 8192.0), "poly_modulus_degree"),
    (_params("data_bits", "48404040"), "data_bits"),
    (_params("scale_bits", True), "scale_bits"),
    (_top("rotation_steps", "1"), "rotation_steps"),
    (_top("rotation_steps", [True]), "rotation_steps"),
    (_top("rotation_steps", [1.0]), "rotation_steps"),
    (_top("rotation_steps", [1, 1]), "rotation_steps"),
    (_top("params", [8192]), "params"),
], ids=["degree_float", "bits_string", "scale_bool", "steps_string", "steps_bool",
        "steps_float", "steps_twice", "params_list"])
def test_bundle_header_fields_need_their_exact_json_types(
        small_bundle: PublicBundle, change: Callable[[Fields], None], field: str) -> None:
    fields, records = _bundle_parts(small_bundle)
    change(fields)
    with pytest.raises(CorruptDataError, match=f"'{field}'"):
        PublicBundle.from_bytes(container.to_bytes(Kind.BUNDLE, fields, records))


def test_bundle_header_control(small_bundle: PublicBundle) -> None:
    fields, records = _bundle_parts(small_bundle)
    parsed = PublicBundle.from_bytes(container.to_bytes(Kind.BUNDLE, fields, records))
    assert parsed.fingerprint == small_bundle.fingerprint


# -- keystores --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_keystore(other_keys: KeySet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keystore with scrypt N = 2^4 (what the header declares is what `load` derives)."""
    saved = _keystore.SCRYPT_N
    _keystore.SCRYPT_N = 2**4
    try:
        path = tmp_path_factory.mktemp("keystore") / "keys.hks"
        other_keys.save(path, passphrase=PASSPHRASE)
    finally:
        _keystore.SCRYPT_N = saved
    return path


def _header_text(keystore: Path, field: str, raw: str) -> tuple[str, list[tuple[int, bytes]]]:
    """The keystore's header as JSON text with kdf `field` set to `raw` JSON text."""
    header, records = container.from_bytes(keystore.read_bytes(), Kind.KEYSTORE)
    fields = dict(header.fields, kdf=dict(header.fields["kdf"], **{field: "@@"}))
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return text.replace('"@@"', raw), records


@pytest.mark.parametrize(("field", "raw"), [
    ("n", "1e400"), ("n", "16.0"), ("n", '"16"'), ("n", "true"), ("r", "8.5"), ("p", "[1]"),
    ("salt", "12345"), ("salt", '"not base64!"'),
])
def test_malformed_kdf_parameters_are_refused_before_any_derivation(
        fast_keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        field: str, raw: str) -> None:
    def derive(*_: object) -> bytes:
        raise AssertionError("scrypt ran on a malformed header")

    monkeypatch.setattr(_keystore, "_derive", derive)
    text, records = _header_text(fast_keystore, field, raw)
    path = tmp_path / "crafted.hks"
    path.write_bytes(crafted(Kind.KEYSTORE, text, records))
    with pytest.raises(CorruptDataError) as info:
        KeySet.load(path, passphrase=PASSPHRASE)
    assert not isinstance(info.value, WrongPassphraseError)


def test_keystore_control(other_keys: KeySet, fast_keystore: Path) -> None:
    assert KeySet.load(fast_keystore, passphrase=PASSPHRASE).fingerprint == other_keys.fingerprint


def _resealed(keys: KeySet, inner: Fields, records: list[tuple[int, bytes]],
              path: Path) -> Path:
    """A keystore whose (authenticated) content is `inner` with `records`: what only the
    passphrase holder can write, so that its own checks are what is tested."""
    header = {"param_id": keys.params.param_id, "params": keys.params.to_dict(),
              "fingerprint": keys.fingerprint}
    saved = _keystore.SCRYPT_N
    _keystore.SCRYPT_N = 2**4
    try:
        sealed = _keystore.seal_payload(container.to_bytes(Kind.KEYSTORE, inner, records),
                                        PASSPHRASE, header)
    finally:
        _keystore.SCRYPT_N = saved
    path.write_bytes(sealed)
    return path


@pytest.mark.parametrize(("change", "field"), [
    ({"max_releases": 0}, "max_releases"),
    ({"max_releases": "64"}, "max_releases"),
    ({"releases_used": 2.0}, "releases_used"),
    ({"releases_used": 65}, "releases_used"),
    ({"rotation_steps": "1"}, "rotation_steps"),
    ({"rotation_steps": [8192]}, "rotation_steps"),
], ids=["no_releases", "releases_string", "used_float", "used_over_max", "steps_string",
        "step_out_of_range"])
def test_keystore_content_fields_need_their_exact_json_types(
        other_keys: KeySet, tmp_path: Path, change: Fields, field: str) -> None:
    inner = {"rotation_steps": [1], "max_releases": 64, "releases_used": 0, **change}
    records = [(9, other_keys.export_secret_key_unsafe()),
               (1, other_keys.public()._public_key.to_string())]
    path = _resealed(other_keys, inner, records, tmp_path / "keys.hks")
    with pytest.raises(CorruptDataError, match=f"'{field}'"):
        KeySet.load(path, passphrase=PASSPHRASE)


def test_keystore_content_with_a_record_twice_is_refused(other_keys: KeySet,
                                                         tmp_path: Path) -> None:
    inner = {"rotation_steps": [1], "max_releases": 64, "releases_used": 0}
    secret = (9, other_keys.export_secret_key_unsafe())
    public = (1, other_keys.public()._public_key.to_string())
    loaded = KeySet.load(_resealed(other_keys, inner, [secret, public], tmp_path / "a.hks"),
                         passphrase=PASSPHRASE)
    assert loaded.fingerprint == other_keys.fingerprint and loaded.max_releases == 64
    with pytest.raises(CorruptDataError, match="one secret and one public key"):
        KeySet.load(_resealed(other_keys, inner, [secret, public, public], tmp_path / "b.hks"),
                    passphrase=PASSPHRASE)
