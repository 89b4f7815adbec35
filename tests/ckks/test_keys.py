"""Key sets, public bundles and keystores: generation, persistence, secret-material hygiene."""

from __future__ import annotations

import copy
import operator
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, _keystore, container
from hedge.ckks.container import MAGIC, Kind
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    RotationKeyError,
    SecretMaterialError,
    WrongPassphraseError,
)
from tests.conftest import TOL

PASSPHRASE = "correct horse battery staple"
TAG_PUBLIC_KEY, TAG_RELIN_KEYS, TAG_GALOIS_KEYS, TAG_SECRET_KEY = 1, 2, 3, 9

Fields = dict[str, Any]
Records = list[tuple[int, bytes]]


def galois_element(step: int, n: int) -> int:
    """SEAL's Galois element for a rotation by `step` slots (generator 3 modulo 2N)."""
    return pow(3, step % (n // 2), 2 * n)


def has_rotation_key(bundle: PublicBundle, step: int) -> bool:
    return bool(bundle.galois_keys.has_key(galois_element(step, bundle.params.poly_modulus_degree)))


def secret_windows(secret: bytes) -> list[bytes]:
    """64-byte pieces of the secret key (past SEAL's 16-byte header) spread over its length."""
    return [secret[i : i + 64] for i in (16, 4096, len(secret) // 2, len(secret) - 64)]


def assert_no_secret(data: bytes, secret: bytes) -> None:
    assert secret not in data
    for window in secret_windows(secret):
        assert window not in data


def first_record_payload(data: bytes) -> tuple[int, int]:
    """(offset, length) of the first record's payload in a container."""
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC) + 4)
    start = len(MAGIC) + 8 + hlen + 4
    _, length = struct.unpack_from("<HQ", data, start)
    return start + 10, length


def parts_of(bundle: PublicBundle) -> tuple[Fields, Records]:
    header, records = container.from_bytes(bundle.to_bytes(), Kind.BUNDLE)
    return header.fields, records


def bundle_bytes(fields: Fields, records: Records) -> bytes:
    return container.to_bytes(Kind.BUNDLE, fields, records)


@pytest.fixture(scope="module")
def small_bundle(other_keys: KeySet) -> PublicBundle:
    """Bundle with a single rotation key: cheap to serialize and parse."""
    return other_keys.public()


@pytest.fixture(scope="module")
def small_parts(small_bundle: PublicBundle) -> tuple[Fields, Records]:
    return parts_of(small_bundle)


@pytest.fixture(scope="module")
def saved_bundle(bundle: PublicBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "public.hedgebundle"
    bundle.save(path)
    return path


@pytest.fixture(scope="module")
def keystore(other_keys: KeySet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keystore") / "owner.hedgekeys"
    other_keys.save(path, passphrase=PASSPHRASE)
    return path


# -- generation ----------------------------------------------------------------------------------


def test_default_rotations_are_signed_powers_of_two(keys: KeySet, bundle: PublicBundle) -> None:
    slots = bundle.params.slot_count
    expected = {sign * 2**i for i in range(slots.bit_length()) if 2**i < slots for sign in (1, -1)}
    assert len(expected) == 24  # 4096 slots: +-1 ... +-2048
    assert set(bundle.rotation_steps) == expected
    assert len(bundle.rotation_steps) == len(expected)
    assert set(keys.rotation_steps) == expected
    assert all(has_rotation_key(bundle, s) for s in expected)
    assert not has_rotation_key(bundle, 3)


def test_explicit_rotations_create_only_those(other_keys: KeySet,
                                              small_bundle: PublicBundle) -> None:
    assert small_bundle.rotation_steps == (1,)
    assert other_keys.rotation_steps == (1,)
    assert has_rotation_key(small_bundle, 1)
    assert not any(has_rotation_key(small_bundle, s) for s in (-1, 2, -2, 1024))

    ks = KeySet.generate("fast", rotations=[3, -5, 3])
    b = ks.public()
    assert sorted(b.rotation_steps) == [-5, 3]
    assert has_rotation_key(b, 3) and has_rotation_key(b, -5)
    assert not any(has_rotation_key(b, s) for s in (1, -1, 2, 5, -3))


def test_bundle_without_rotation_keys_round_trips() -> None:
    """A plan that needs no rotation passes rotations=[]; its bundle must still load."""
    ks = KeySet.generate("fast", rotations=[])
    b = ks.public()
    assert b.rotation_steps == ()
    loaded = PublicBundle.from_bytes(b.to_bytes())
    assert loaded.rotation_steps == ()
    assert loaded.fingerprint == ks.fingerprint
    assert np.allclose(decrypt_exact(ks, loaded.encrypt([0.5, -0.5])), [0.5, -0.5], atol=TOL)


@pytest.mark.parametrize("step", [4097, -5000])
def test_out_of_range_rotation_is_a_hedge_error(step: int) -> None:
    """errors.py: every error hedge raises on purpose derives from HedgeError."""
    with pytest.raises(HedgeError):
        KeySet.generate("fast", rotations=[1, step])


@pytest.mark.parametrize("name", ["nope", "", "FAST", "standard "])
def test_unknown_preset(name: str) -> None:
    with pytest.raises(ParameterError, match="unknown preset"):
        KeySet.generate(name)


# -- fingerprints ---------------------------------------------------------------------------------


def test_fingerprints_identify_key_sets(keys: KeySet, bundle: PublicBundle, other_keys: KeySet,
                                        small_bundle: PublicBundle) -> None:
    assert bundle.fingerprint == keys.fingerprint
    assert small_bundle.fingerprint == other_keys.fingerprint
    assert keys.fingerprint != other_keys.fingerprint
    assert bundle.encrypt([1.0]).fingerprint == keys.fingerprint


# -- public bundle persistence --------------------------------------------------------------------


def test_bundle_save_load_round_trip(keys: KeySet, bundle: PublicBundle, saved_bundle: Path,
                                     rng: np.random.Generator) -> None:
    loaded = PublicBundle.load(saved_bundle)
    assert loaded.fingerprint == bundle.fingerprint
    assert loaded.params == bundle.params
    assert loaded.rotation_steps == bundle.rotation_steps
    x = rng.uniform(-1, 1, 100)
    v = loaded.encrypt(x)
    assert v.fingerprint == keys.fingerprint
    assert np.allclose(decrypt_exact(keys, v), x, atol=TOL)
    # evaluation keys survived: relinearisation and rotations use the loaded keys
    assert np.allclose(decrypt_exact(keys, v * v), x * x, atol=TOL)
    assert np.allclose(decrypt_exact(keys, v.rotate(5)), np.roll(x, -5), atol=TOL)
    assert np.allclose(decrypt_exact(keys, v.sum()), [x.sum()], atol=TOL)
    # vectors from the loaded and the original bundle combine
    assert np.allclose(decrypt_exact(keys, v + bundle.encrypt(x)), 2 * x, atol=TOL)


def test_bundle_from_bytes_round_trip(other_keys: KeySet, small_bundle: PublicBundle) -> None:
    loaded = PublicBundle.from_bytes(small_bundle.to_bytes())
    assert (loaded.fingerprint, loaded.rotation_steps) == (other_keys.fingerprint, (1,))
    assert np.allclose(decrypt_exact(other_keys, loaded.encrypt([0.25, 0.5])), [0.25, 0.5],
                       atol=TOL)


def test_bundle_file_holds_no_secret_material(keys: KeySet, saved_bundle: Path) -> None:
    data = saved_bundle.read_bytes()
    assert_no_secret(data, keys.export_secret_key_unsafe())
    with saved_bundle.open("rb") as fh:
        header, records = container.read_container(fh, Kind.BUNDLE)
        tags = [tag for tag, _ in records]
    assert TAG_SECRET_KEY not in tags
    assert sorted(tags) == [TAG_PUBLIC_KEY, TAG_RELIN_KEYS, TAG_GALOIS_KEYS]
    assert "secret" not in str(header.fields).lower()


def test_bundle_bytes_hold_no_secret_material(other_keys: KeySet,
                                              small_bundle: PublicBundle) -> None:
    assert_no_secret(small_bundle.to_bytes(), other_keys.export_secret_key_unsafe())


def test_bundle_load_refuses_trailing_bytes(small_bundle: PublicBundle, tmp_path: Path) -> None:
    path = tmp_path / "b.hedgebundle"
    path.write_bytes(small_bundle.to_bytes() + b"\x00")
    with pytest.raises(CorruptDataError):
        PublicBundle.load(path)


@pytest.mark.parametrize("position", [0, 1, 2], ids=["public_key", "relin_keys", "galois_keys"])
def test_bundle_constructor_refuses_secret_key(other_keys: KeySet, small_bundle: PublicBundle,
                                               position: int) -> None:
    secret = other_keys.engine.context.from_secret_str(other_keys.export_secret_key_unsafe())
    parts: list[Any] = [small_bundle._public_key, small_bundle.relin_keys,
                        small_bundle.galois_keys]
    parts[position] = secret
    with pytest.raises(SecretMaterialError):
        PublicBundle(small_bundle.params, *parts, rotation_steps=(1,))


@pytest.mark.parametrize("attribute", ["_public_key", "relin_keys", "galois_keys"])
def test_bundle_save_refuses_secret_key_smuggled_in_after_construction(
        other_keys: KeySet, small_bundle: PublicBundle, tmp_path: Path, attribute: str) -> None:
    """Checked when written, not only when constructed; nothing is left on disk."""
    smuggler = PublicBundle.from_bytes(small_bundle.to_bytes())  # a copy: fixtures stay intact
    secret = other_keys.engine.context.from_secret_str(other_keys.export_secret_key_unsafe())
    setattr(smuggler, attribute, secret)
    path = tmp_path / "smuggled.hedgebundle"
    with pytest.raises(SecretMaterialError):
        smuggler.save(path)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either
    with pytest.raises(SecretMaterialError):
        smuggler.to_bytes()


# -- hand-crafted bundles ---------------------------------------------------------------------


def test_crafted_bundle_control(other_keys: KeySet, small_parts: tuple[Fields, Records]) -> None:
    """The unchanged header and records rebuilt with container.to_bytes load fine."""
    fields, records = small_parts
    loaded = PublicBundle.from_bytes(bundle_bytes(fields, records))
    assert loaded.fingerprint == other_keys.fingerprint


@pytest.mark.parametrize("where", ["first", "last"])
def test_bundle_with_secret_key_record_is_refused(other_keys: KeySet,
                                                  small_parts: tuple[Fields, Records],
                                                  tmp_path: Path, where: str) -> None:
    fields, records = small_parts
    secret = (TAG_SECRET_KEY, other_keys.export_secret_key_unsafe())
    crafted = [secret, *records] if where == "first" else [*records, secret]
    data = bundle_bytes(fields, crafted)
    with pytest.raises(SecretMaterialError):
        PublicBundle.from_bytes(data)
    path = tmp_path / "evil.hedgebundle"
    path.write_bytes(data)
    with pytest.raises(SecretMaterialError):
        PublicBundle.load(path)


@pytest.mark.parametrize("tag", [TAG_PUBLIC_KEY, TAG_RELIN_KEYS, TAG_GALOIS_KEYS])
def test_secret_key_under_a_public_tag_is_refused(other_keys: KeySet,
                                                  small_parts: tuple[Fields, Records],
                                                  tag: int) -> None:
    fields, records = small_parts
    secret = other_keys.export_secret_key_unsafe()
    crafted = [(t, secret if t == tag else payload) for t, payload in records]
    with pytest.raises(SecretMaterialError):
        PublicBundle.from_bytes(bundle_bytes(fields, crafted))


@pytest.mark.parametrize("steps", [[1, 2], [-1, 1], [1, 7]])
def test_bundle_declaring_missing_rotation_keys(small_parts: tuple[Fields, Records],
                                                steps: list[int]) -> None:
    fields, records = small_parts
    with pytest.raises(CorruptDataError, match="Galois"):
        PublicBundle.from_bytes(bundle_bytes({**fields, "rotation_steps": steps}, records))


def test_bundle_fingerprint_must_match_public_key(keys: KeySet,
                                                  small_parts: tuple[Fields, Records]) -> None:
    fields, records = small_parts
    for fingerprint in (keys.fingerprint, "0" * 32, fields["fingerprint"][:-1]):
        with pytest.raises(CorruptDataError, match="fingerprint"):
            PublicBundle.from_bytes(bundle_bytes({**fields, "fingerprint": fingerprint}, records))


# -- keystore ---------------------------------------------------------------------------------


def test_keystore_round_trip(other_keys: KeySet, small_bundle: PublicBundle, keystore: Path,
                             rng: np.random.Generator) -> None:
    x = rng.uniform(-1, 1, 50)
    v = small_bundle.encrypt(x)
    loaded = KeySet.load(keystore, passphrase=PASSPHRASE)
    assert loaded.fingerprint == other_keys.fingerprint
    assert loaded.params == other_keys.params
    assert loaded.rotation_steps == other_keys.rotation_steps
    assert np.allclose(decrypt_exact(loaded, v), x, atol=TOL)
    assert loaded.export_secret_key_unsafe() == other_keys.export_secret_key_unsafe()


def test_loaded_keys_rebuild_a_working_bundle(other_keys: KeySet, small_bundle: PublicBundle,
                                              keystore: Path, rng: np.random.Generator) -> None:
    loaded = KeySet.load(keystore, passphrase=PASSPHRASE)
    rebuilt = loaded.public()
    assert rebuilt.fingerprint == other_keys.fingerprint
    assert rebuilt.rotation_steps == (1,)
    x = rng.uniform(-1, 1, 50)
    w = rebuilt.encrypt(x)
    assert np.allclose(decrypt_exact(loaded, w), x, atol=TOL)
    assert np.allclose(decrypt_exact(other_keys, w), x, atol=TOL)
    assert np.allclose(decrypt_exact(other_keys, w * w), x * x, atol=TOL)  # re-derived relin keys
    # re-derived Galois key; a full-slot vector rotates by 1 with exactly the one key it has
    full = rng.uniform(-1, 1, rebuilt.params.slot_count)
    rotated = rebuilt.encrypt(full).rotate(1)
    assert np.allclose(decrypt_exact(other_keys, rotated), np.roll(full, -1), atol=TOL)
    assert np.allclose(decrypt_exact(loaded, w + small_bundle.encrypt(x)), 2 * x, atol=TOL)


def test_wrong_passphrase(keystore: Path) -> None:
    with pytest.raises(WrongPassphraseError) as info:
        KeySet.load(keystore, passphrase=PASSPHRASE + "!")
    assert isinstance(info.value, CorruptDataError)
    assert isinstance(info.value, HedgeError)
    with pytest.raises(WrongPassphraseError):
        KeySet.load(keystore, passphrase="")


def test_empty_passphrase_is_refused_on_save(other_keys: KeySet, tmp_path: Path) -> None:
    path = tmp_path / "owner.hedgekeys"
    with pytest.raises(HedgeError, match="empty passphrase"):
        other_keys.save(path, passphrase="")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either


def test_keystore_holds_no_raw_secret(other_keys: KeySet, keystore: Path) -> None:
    data = keystore.read_bytes()
    assert_no_secret(data, other_keys.export_secret_key_unsafe())
    _, records = container.from_bytes(data, Kind.KEYSTORE)
    assert [tag for tag, _ in records] == [1]  # one sealed (AEAD) record, nothing in the clear


def test_flipped_byte_in_sealed_record_fails_crc(keystore: Path, tmp_path: Path) -> None:
    data = bytearray(keystore.read_bytes())
    offset, length = first_record_payload(bytes(data))
    data[offset + length // 2] ^= 0x01
    path = tmp_path / "flipped.hedgekeys"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="checksum") as info:
        KeySet.load(path, passphrase=PASSPHRASE)
    assert not isinstance(info.value, WrongPassphraseError)  # caught by the CRC, before AEAD


def _rebuild_keystore(keystore: Path, tmp_path: Path, change: Callable[[Fields], None]) -> Path:
    header, records = container.from_bytes(keystore.read_bytes(), Kind.KEYSTORE)
    fields = copy.deepcopy(header.fields)
    change(fields)
    path = tmp_path / "modified.hedgekeys"
    path.write_bytes(container.to_bytes(Kind.KEYSTORE, fields, records))
    return path


def _set(*keys_and_value: Any) -> Callable[[Fields], None]:
    *path, value = keys_and_value

    def change(fields: Fields) -> None:
        target = fields
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize("change", [
    _set("fingerprint", "0123456789abcdef0123456789abcdef"),
    _set("params", "description", "tampered"),
    _set("kdf", "salt", "AAAAAAAAAAAAAAAAAAAAAA=="),
    _set("kdf", "n", 2**14),
    _set("cipher", "nonce", "AAAAAAAAAAAAAAAA"),
    _set("extra", "field"),
], ids=["fingerprint", "description", "salt", "kdf_n", "nonce", "added_field"])
def test_modified_keystore_header_is_detected(keystore: Path, tmp_path: Path,
                                              change: Callable[[Fields], None]) -> None:
    path = _rebuild_keystore(keystore, tmp_path, change)
    with pytest.raises(WrongPassphraseError):
        KeySet.load(path, passphrase=PASSPHRASE)


def test_rebuilt_keystore_control(other_keys: KeySet, keystore: Path, tmp_path: Path) -> None:
    path = _rebuild_keystore(keystore, tmp_path, lambda fields: None)
    assert KeySet.load(path, passphrase=PASSPHRASE).fingerprint == other_keys.fingerprint


@pytest.mark.parametrize(("field", "value"), [
    ("n", 3), ("n", 1), ("n", 2**21), ("r", 0), ("p", 17), ("name", "argon2"),
])
def test_implausible_kdf_parameters_are_corrupt_data(keystore: Path, tmp_path: Path,
                                                     field: str, value: Any) -> None:
    path = _rebuild_keystore(keystore, tmp_path, _set("kdf", field, value))
    with pytest.raises(CorruptDataError):
        KeySet.load(path, passphrase=PASSPHRASE)


@pytest.mark.parametrize(("n", "r", "p"), [(2**20, 9, 1), (2**17, 8, 9), (2**20, 32, 16)])
def test_kdf_parameters_over_the_memory_cap_are_refused_before_any_derivation(
        keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        n: int, r: int, p: int) -> None:
    """docs/security.md: KDF parameters read from a file are capped at 1 GiB before any work.
    Each set passes the plausibility ranges (n <= 2^20, r <= 32, p <= 16) and exceeds the cap."""
    assert 128 * n * r * p > 2**30

    def derive(*_: object) -> bytes:
        raise AssertionError("scrypt ran on parameters over the memory cap")

    monkeypatch.setattr(_keystore, "_derive", derive)

    def change(fields: Fields) -> None:
        fields["kdf"].update(n=n, r=r, p=p)

    path = _rebuild_keystore(keystore, tmp_path, change)
    started = time.monotonic()
    with pytest.raises(CorruptDataError, match="1 GiB") as info:
        KeySet.load(path, passphrase=PASSPHRASE)
    assert time.monotonic() - started < 1
    assert not isinstance(info.value, WrongPassphraseError)


def _flip_sealed_byte(keystore: Path, tmp_path: Path, where: str) -> Path:
    """The keystore with one byte of its sealed (AEAD) record flipped and all container
    checksums recomputed, so that only the authenticated encryption can notice."""
    header, [(tag, sealed)] = container.from_bytes(keystore.read_bytes(), Kind.KEYSTORE)
    flipped = bytearray(sealed)
    flipped[{"first": 0, "middle": len(sealed) // 2, "tag": len(sealed) - 1}[where]] ^= 0x01
    path = tmp_path / "flipped.hedgekeys"
    path.write_bytes(container.to_bytes(Kind.KEYSTORE, header.fields, [(tag, bytes(flipped))]))
    return path


@pytest.mark.parametrize("where", ["first", "middle", "tag"])
def test_a_sealed_payload_modified_behind_valid_checksums_is_a_wrong_passphrase_error(
        keystore: Path, tmp_path: Path, where: str) -> None:
    """docs/engine.md: a modified payload raises WrongPassphraseError (AES-256-GCM)."""
    path = _flip_sealed_byte(keystore, tmp_path, where)
    data = path.read_bytes()
    container.from_bytes(data, Kind.KEYSTORE)  # the CRCs are valid: the AEAD must catch it
    assert data != keystore.read_bytes()
    with pytest.raises(WrongPassphraseError, match="modified"):
        KeySet.load(path, passphrase=PASSPHRASE)


def test_truncated_keystore(keystore: Path, tmp_path: Path) -> None:
    data = keystore.read_bytes()
    offset, length = first_record_payload(data)
    path = tmp_path / "truncated.hedgekeys"
    for cut in (0, 1, 8, 20, offset - 14, offset - 1, offset + length // 2, len(data) - 20,
                len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CorruptDataError):
            KeySet.load(path, passphrase=PASSPHRASE)


def test_keystore_is_not_a_bundle(keystore: Path, saved_bundle: Path) -> None:
    with pytest.raises(CorruptDataError, match="kind"):
        PublicBundle.from_bytes(keystore.read_bytes())
    with pytest.raises(CorruptDataError, match="kind"):
        KeySet.load(saved_bundle, passphrase=PASSPHRASE)


# -- key mismatches ------------------------------------------------------------------------------


def test_decrypt_with_the_wrong_key_set(keys: KeySet, bundle: PublicBundle, other_keys: KeySet,
                                        small_bundle: PublicBundle) -> None:
    with pytest.raises(KeyMismatchError):
        decrypt_exact(other_keys, bundle.encrypt([0.5, -0.25]))
    with pytest.raises(KeyMismatchError):
        decrypt_exact(keys, small_bundle.encrypt([0.5, -0.25]))
    with pytest.raises(KeyMismatchError):
        other_keys.release(bundle.encrypt([0.5]))


Combine = Callable[[EncryptedVector, EncryptedVector], EncryptedVector]


@pytest.mark.parametrize("combine", [operator.add, operator.sub, operator.mul,
                                     lambda a, b: a.dot(b)], ids=["add", "sub", "mul", "dot"])
def test_combining_vectors_of_different_key_sets(bundle: PublicBundle,
                                                 small_bundle: PublicBundle,
                                                 combine: Combine) -> None:
    v1, v2 = bundle.encrypt([0.1, 0.2, 0.3]), small_bundle.encrypt([0.4, 0.5, 0.6])
    with pytest.raises(KeyMismatchError):
        combine(v1, v2)
    with pytest.raises(KeyMismatchError):
        combine(v2, v1)


def test_bundle_can_be_pinned_to_a_fingerprint(keys: KeySet, bundle: PublicBundle,
                                               other_keys: KeySet, tmp_path: Path) -> None:
    path = tmp_path / "pinned.bundle"
    other_keys.public().save(path)
    assert PublicBundle.load(path, expected_fingerprint=other_keys.fingerprint).fingerprint == (
        other_keys.fingerprint)
    with pytest.raises(KeyMismatchError, match="pinned"):
        PublicBundle.load(path, expected_fingerprint=keys.fingerprint)


def test_an_encryption_only_bundle(keys: KeySet) -> None:
    full = keys.public()
    small = full.for_encryption()
    assert small.fingerprint == full.fingerprint and small.rotation_steps == ()
    assert len(small.to_bytes()) < len(full.to_bytes()) / 4
    v = small.encrypt(np.arange(4.0))
    assert np.allclose(decrypt_exact(keys, v), np.arange(4.0), atol=1e-6)
    with pytest.raises(RotationKeyError):
        v.rotate(1)
