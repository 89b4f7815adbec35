"""Key sets (secret, owner side) and public bundles (everything the cloud and the edges get).

`KeySet` holds the CKKS secret key and never serialises it except into a passphrase-encrypted
keystore (`save`) or through the explicit, greppable `export_secret_key_unsafe`.
`PublicBundle` holds parameters, public key, relinearisation key and only the requested Galois
(rotation) keys; it is checked for secret material when it is written and when it is read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import seal

from hedge.ckks import _keystore, container
from hedge.ckks._engine import Engine, engine_for, galois_element, power_of_two_steps
from hedge.ckks.fields import Fields
from hedge.ckks.params import Parameters, preset
from hedge.ckks.release import (
    DEFAULT_ERROR_BOUND,
    DEFAULT_MAX_RELEASES,
    Release,
    flooding_sigma,
    release,
)
from hedge.ckks.vector import EncryptedVector
from hedge.errors import (
    CorruptDataError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    SecretMaterialError,
)
from hedge.files import write_atomic

__all__ = ["KeySet", "PublicBundle"]

_TAG_PUBLIC_KEY, _TAG_RELIN_KEYS, _TAG_GALOIS_KEYS = 1, 2, 3
_TAG_SECRET_KEY = 9
_PUBLIC_TAGS = {_TAG_PUBLIC_KEY, _TAG_RELIN_KEYS, _TAG_GALOIS_KEYS}


def _fingerprint(params: Parameters, public_key_bytes: bytes) -> str:
    digest = hashlib.sha256(b"hedge-key-fingerprint-v1" + params.param_id.encode())
    digest.update(public_key_bytes)
    return digest.hexdigest()[:32]


def fingerprint_of(params: Parameters, public_key: seal.PublicKey) -> str:
    """The fingerprint of the key set a public key belongs to (what bundles are pinned by)."""
    return _fingerprint(params, public_key.to_string())


def _resolve(params: str | Parameters) -> Parameters:
    return preset(params) if isinstance(params, str) else params


def _normalize_steps(steps: Iterable[int], slots: int) -> tuple[int, ...]:
    out = sorted({int(s) for s in steps if int(s) % slots != 0})
    for s in out:
        if abs(s) >= slots:
            raise ParameterError(
                f"rotation step {s} is out of range for {slots} slots; use |step| < {slots}"
            )
    return tuple(out)


def _refuse_secret(engine: Engine, tag: int, payload: bytes) -> None:
    """Raise `SecretMaterialError` if a record is, or parses as, a secret key.

    A serialized secret key is one polynomial at the key level (N x primes x 8 bytes plus a
    header); anything larger cannot be one, so large evaluation keys are not parsed twice."""
    if tag == _TAG_SECRET_KEY:
        raise SecretMaterialError("a public bundle must not contain a secret key; refusing it")
    params = engine.params
    if len(payload) > params.poly_modulus_degree * (len(params.data_bits) + 1) * 8 + 4096:
        return
    try:
        engine.context.from_secret_str(payload)
    except container.SEAL_LOAD_ERRORS:
        return
    raise SecretMaterialError("a public bundle record parses as a secret key; refusing it")


class PublicBundle:
    """Public, shareable key material: encrypt and compute, never decrypt.

    Contains parameters, public key, relinearisation key and Galois keys for `rotation_steps`.
    """

    def __init__(
        self,
        params: Parameters,
        public_key: seal.PublicKey,
        relin_keys: seal.RelinKeys,
        galois_keys: seal.GaloisKeys,
        rotation_steps: tuple[int, ...],
        fingerprint: str | None = None,
        *,
        common_seed: bytes | None = None,
    ) -> None:
        for obj, kind in ((public_key, seal.PublicKey), (relin_keys, seal.RelinKeys),
                          (galois_keys, seal.GaloisKeys)):
            if not isinstance(obj, kind):
                raise SecretMaterialError(f"a public bundle takes a {kind.__name__}, not "
                                          f"{type(obj).__name__}")
        self.params = params
        self.engine = engine_for(params)
        self._public_key = public_key
        self.relin_keys = relin_keys
        self.galois_keys = galois_keys
        self.rotation_steps = rotation_steps
        self.available_steps = frozenset(rotation_steps)
        self.fingerprint = fingerprint or _fingerprint(params, public_key.to_string())
        #: the public seed of a collective key set's common polynomials (None: single key)
        self.common_seed = common_seed
        self._encryptor = seal.Encryptor(self.engine.context, public_key)

    def __repr__(self) -> str:
        return (f"PublicBundle(preset={self.params.name!r}, fingerprint={self.fingerprint[:12]}…, "
                f"rotations={len(self.rotation_steps)})")

    def encrypt(self, values: Any, *, check_range: bool = True) -> EncryptedVector:
        """Encrypt a 1-D array of reals at the top level (spans several ciphertexts if long).

        Values must fit what the preset holds at its *last* level (`max_result_magnitude`),
        checked unless `check_range=False`: for values that are only added (counts, sums,
        masked vectors), which stay at the top level, where the capacity is far larger."""
        return EncryptedVector.encrypt(self, values, check_range=check_range)

    def encrypt_plain(self, plain: seal.Plaintext) -> seal.Ciphertext:
        return self._encryptor.encrypt(plain)

    def for_encryption(self) -> PublicBundle:
        """The same key set without Galois keys: all an encrypting party needs (at N=16384
        about 25 MB instead of hundreds). Same fingerprint; rotations raise RotationKeyError."""
        return PublicBundle(self.params, self._public_key, self.relin_keys, seal.GaloisKeys(),
                            (), self.fingerprint, common_seed=self.common_seed)

    def check_compatible(self, other: PublicBundle) -> None:
        if other.fingerprint != self.fingerprint:
            raise KeyMismatchError(
                "operands come from different key sets "
                f"({self.fingerprint[:12]}… vs {other.fingerprint[:12]}…)"
            )

    # -- serialization ---------------------------------------------------------------------

    def _records(self) -> list[tuple[int, bytes]]:
        records = [
            (_TAG_PUBLIC_KEY, self._public_key.to_string()),
            (_TAG_RELIN_KEYS, self.relin_keys.to_string()),
            # SEAL cannot serialise an empty key set: no rotation steps -> empty record
            (_TAG_GALOIS_KEYS, self.galois_keys.to_string() if self.rotation_steps else b""),
        ]
        for tag, payload in records:
            _refuse_secret(self.engine, tag, payload)
        return records

    def to_bytes(self) -> bytes:
        header = {
            "param_id": self.params.param_id,
            "params": self.params.to_dict(),
            "fingerprint": self.fingerprint,
            "rotation_steps": list(self.rotation_steps),
        }
        return container.to_bytes(container.Kind.BUNDLE, header, self._records())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the bundle atomically (checked for secret material first)."""
        write_atomic(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_fingerprint: str | None = None) -> PublicBundle:
        """Parse and check a bundle: `CorruptDataError` for malformed bytes or a header that does
        not fit its keys, `SecretMaterialError` for a record that is or parses as a secret key,
        `KeyMismatchError` for another key set than `expected_fingerprint`."""
        header, records = container.from_bytes(data, container.Kind.BUNDLE)
        bundle = cls._from_parts(header.fields, records)
        if expected_fingerprint is not None and bundle.fingerprint != expected_fingerprint:
            raise KeyMismatchError(
                f"this bundle belongs to key set {bundle.fingerprint[:12]}…, not to the pinned "
                f"{expected_fingerprint[:12]}…; do not use it"
            )
        return bundle

    @classmethod
    def load(cls, path: str | os.PathLike[str], *,
             expected_fingerprint: str | None = None) -> PublicBundle:
        """Read a bundle, refusing secret material, corruption and inconsistent keys; with
        `expected_fingerprint`, also any bundle of another key set (pin it at enrolment)."""
        return cls.from_bytes(Path(path).read_bytes(), expected_fingerprint=expected_fingerprint)

    @classmethod
    def _from_parts(cls, fields: dict[str, Any], records: list[tuple[int, bytes]]) -> PublicBundle:
        header = Fields(fields, "bundle header")
        params = header.parameters()
        if header.string("param_id", max_length=64) != params.param_id:
            raise CorruptDataError("bundle header is inconsistent: parameter id mismatch")
        fingerprint = header.string("fingerprint", max_length=64)
        slots = params.slot_count
        steps = tuple(header.integers("rotation_steps", 1 - slots, slots - 1,
                                      max_items=2 * slots))
        if 0 in steps or len(set(steps)) != len(steps):
            raise header.fail("rotation_steps", "distinct, non-zero rotation steps")
        engine = engine_for(params)
        parts: dict[int, bytes] = {}
        for tag, payload in records:
            _refuse_secret(engine, tag, payload)
            if tag not in _PUBLIC_TAGS or tag in parts:
                raise CorruptDataError(f"bundle has an unexpected record (tag {tag})")
            parts[tag] = payload
        if set(parts) != _PUBLIC_TAGS:
            raise CorruptDataError("bundle is missing key material")
        if _fingerprint(params, parts[_TAG_PUBLIC_KEY]) != fingerprint:
            raise CorruptDataError("bundle fingerprint does not match its public key")
        try:
            pk = engine.context.from_public_str(parts[_TAG_PUBLIC_KEY])
            rk = engine.context.from_relin_str(parts[_TAG_RELIN_KEYS])
            galois = parts[_TAG_GALOIS_KEYS]
            gk = engine.context.from_galois_str(galois) if galois else seal.GaloisKeys()
        except container.SEAL_LOAD_ERRORS as exc:
            raise CorruptDataError(f"bundle key material does not parse: {exc}") from exc
        n = params.poly_modulus_degree
        missing = [s for s in steps if not gk.has_key(galois_element(s, n))]
        if missing:
            raise CorruptDataError(f"bundle lacks the Galois keys it declares: {missing[:8]}")
        return cls(params, pk, rk, gk, steps, fingerprint)


class KeySet:
    """A CKKS secret key with its public counterparts. Owner side only; never send it anywhere."""

    def __init__(
        self,
        params: Parameters,
        secret_key: seal.SecretKey,
        public_key: seal.PublicKey,
        rotation_steps: tuple[int, ...],
        bundle: PublicBundle | None = None,
        *,
        max_releases: int = DEFAULT_MAX_RELEASES,
        releases_used: int = 0,
    ) -> None:
        if max_releases < 1 or releases_used < 0:
            raise ParameterError("max_releases must be at least 1, releases_used at least 0")
        self.max_releases = max_releases
        self.releases_used = releases_used
        #: called with the key set after each release is counted, before its decryption: e.g.
        #: to write the count back to the keystore first (`hedge.owner.releases`)
        self.on_spend: Callable[[KeySet], None] | None = None
        self.params = params
        self.engine = engine_for(params)
        self._secret_key = secret_key
        self._public_key = public_key
        self.rotation_steps = rotation_steps
        self.fingerprint = _fingerprint(params, public_key.to_string())
        self._decryptor = seal.Decryptor(self.engine.context, secret_key)
        self._bundle = bundle

    def __repr__(self) -> str:
        return f"KeySet(preset={self.params.name!r}, fingerprint={self.fingerprint[:12]}…)"

    @classmethod
    def generate(
        cls, params: str | Parameters, rotations: Iterable[int] | None = None, *,
        max_releases: int = DEFAULT_MAX_RELEASES,
    ) -> KeySet:
        """Generate fresh keys. `rotations`: Galois key steps (default: all +-2^i, so every
        rotation works by composition; pass the steps a plan needs to keep the bundle small).
        `max_releases`: how many release decryptions the key set allows (see `release`)."""
        p = _resolve(params)
        engine = engine_for(p)
        steps = _normalize_steps(
            power_of_two_steps(engine.slots) if rotations is None else rotations, engine.slots
        )
        keygen = seal.KeyGenerator(engine.context)
        keys = cls(p, keygen.secret_key(), keygen.create_public_key(), steps,
                   max_releases=max_releases)
        keys._bundle = keys._make_bundle(keygen)
        return keys

    def _make_bundle(self, keygen: seal.KeyGenerator) -> PublicBundle:
        galois = seal.GaloisKeys()
        if self.rotation_steps:
            keygen.create_galois_keys(list(self.rotation_steps), galois)
        return PublicBundle(self.params, self._public_key, keygen.create_relin_keys(), galois,
                            self.rotation_steps, self.fingerprint)

    def public(self) -> PublicBundle:
        """The public bundle for this key set (evaluation keys are re-derived after `load`)."""
        if self._bundle is None:
            self._bundle = self._make_bundle(seal.KeyGenerator(self.engine.context,
                                                               self._secret_key))
        return self._bundle

    # -- decryption ------------------------------------------------------------------------------

    def _check_owner(self, vector: EncryptedVector) -> None:
        if vector.fingerprint != self.fingerprint:
            raise KeyMismatchError(
                "this ciphertext was encrypted under another key set "
                f"({vector.fingerprint[:12]}…), not {self.fingerprint[:12]}…; use its own keys"
            )

    def _decrypt(self, vector: EncryptedVector) -> np.ndarray:
        """Decrypt to a float array of the vector's length: for `release` and for the exact
        door `hedge.ckks.hazmat.decrypt_exact` only."""
        self._check_owner(vector)
        decode, decrypt = self.engine.decode, self._decryptor.decrypt
        return np.concatenate([decode(decrypt(ct)) for ct in vector.ciphertexts])[: vector.length]

    def release(self, vector: EncryptedVector, *, error_bound: float = DEFAULT_ERROR_BOUND,
                indices: Sequence[int] | None = None) -> Release:
        """Release decryption: rounded and noise-flooded values (see `hedge.ckks.release`).
        Spends one release of the budget, in memory: the owner releases through
        `hedge.owner.releases.Releaser`, which persists the count before each decryption."""
        return release(self, vector, error_bound=error_bound, indices=indices)

    def noise_sigma(self, error_bound: float, released: int) -> float:
        """The flooding noise's standard deviation of a release of `released` values at the
        public bound `error_bound` under this key set's budget (`flooding_sigma`)."""
        return flooding_sigma(error_bound, released, self.max_releases)

    def spend_release(self) -> None:
        """Count one release, then call `on_spend` (if set; what it raises stops the
        release, which stays counted); `PolicyError` once `max_releases` are spent."""
        if self.releases_used >= self.max_releases:
            raise PolicyError(
                f"this key set has used all {self.max_releases} releases its flooding noise is "
                "sized for; generate new keys for further releases"
            )
        self.releases_used += 1
        if self.on_spend is not None:
            self.on_spend(self)

    # -- persistence --------------------------------------------------------------------------

    def export_secret_key_unsafe(self) -> bytes:
        """Return the raw SEAL secret key. Anyone holding these bytes can decrypt everything."""
        return bytes(self._secret_key.to_string())

    def save(self, path: str | os.PathLike[str], *, passphrase: str) -> None:
        """Write an encrypted keystore (scrypt + AES-256-GCM), atomically."""
        inner = container.to_bytes(
            container.Kind.KEYSTORE,
            {"rotation_steps": list(self.rotation_steps), "max_releases": self.max_releases,
             "releases_used": self.releases_used},
            [(_TAG_SECRET_KEY, self.export_secret_key_unsafe()),
             (_TAG_PUBLIC_KEY, self._public_key.to_string())],
        )
        header = {"param_id": self.params.param_id, "params": self.params.to_dict(),
                  "fingerprint": self.fingerprint}
        write_atomic(path, _keystore.seal_payload(inner, passphrase, header))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, passphrase: str) -> KeySet:
        """Open a keystore; wrong passphrase or a modified file raise `WrongPassphraseError`,
        malformed content `CorruptDataError`."""
        data = Path(path).read_bytes()
        fields, inner = _keystore.open_payload(data, passphrase)
        if "key_share_of" in fields:  # hedge.ckks.multiparty.store.SHARE_MARK
            raise ParameterError(
                f"{path} holds key holder {str(fields['key_share_of'])[:64]!r}'s share of a "
                "threshold key, not a key set: no single party can decrypt with it; open it "
                "with hedge.ckks.multiparty.store.HolderKeys")
        params = Fields(fields, "keystore header").parameters()
        header, records = container.from_bytes(inner, container.Kind.KEYSTORE)
        content = Fields(header.fields, "keystore content")
        slots = params.slot_count
        steps = tuple(content.integers("rotation_steps", 1 - slots, slots - 1,
                                       max_items=2 * slots))
        max_releases = content.integer("max_releases", 1, 1 << 62)
        releases_used = content.integer("releases_used", 0, max_releases)
        parts = dict(records)
        if len(parts) != len(records) or set(parts) != {_TAG_SECRET_KEY, _TAG_PUBLIC_KEY}:
            raise CorruptDataError("keystore content should hold one secret and one public key")
        engine = engine_for(params)
        try:
            sk = engine.context.from_secret_str(parts[_TAG_SECRET_KEY])
            pk = engine.context.from_public_str(parts[_TAG_PUBLIC_KEY])
        except container.SEAL_LOAD_ERRORS as exc:
            raise CorruptDataError(f"keystore content is malformed: {exc}") from exc
        keys = cls(params, sk, pk, steps, max_releases=max_releases,
                   releases_used=releases_used)
        if keys.fingerprint != fields.get("fingerprint"):
            raise CorruptDataError("keystore fingerprint does not match its keys")
        return keys
