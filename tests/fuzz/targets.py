"""The fuzz targets: every parser of bytes from another party, its seeds (valid encodings) and
the `HedgeError` subclasses it may raise.

A target's `run(data)` returns the outcome: "accepted", the name of the `HedgeError` subclass
raised (which must be one of `raises`), or "skipped" when the harness itself cannot turn the
input into what the parser takes (not JSON where the parser takes a document; unsignable for
the re-signing targets). Anything else escapes: that is a failure. Fixtures are built once per
process (`functools.cache`), with the small `fast` preset and a single rotation key.

| target | parser | raises |
|---|---|---|
| container | `container.from_bytes`, `read_container` | CorruptDataError |
| vector | `EncryptedVector.from_bytes` | CorruptDataError, KeyMismatchError |
| vectors | `iter_vectors` | CorruptDataError, KeyMismatchError |
| bundle | `PublicBundle.from_bytes` (pinned) | CorruptDataError, KeyMismatchError, |
| | | SecretMaterialError |
| dataset | `EncryptedDataset.from_bytes` | CorruptDataError, KeyMismatchError |
| model | `EncryptedLinearModel.from_bytes` | CorruptDataError, KeyMismatchError |
| evaluation | `EncryptedEvaluation.from_bytes` | CorruptDataError, KeyMismatchError |
| statistics | `PooledStatistics.from_bytes` | CorruptDataError, KeyMismatchError |
| contribution | `kmeans.aggregate` (rejections) | CorruptDataError, KeyMismatchError, |
| | | ShapeError, ParameterError |
| kmeans_request | `SegmentSite.respond` | SignatureError, CorruptDataError, |
| | | KeyMismatchError, PolicyError, ShapeError, ParameterError |
| kmeans_request_signed | the same, re-signed | as kmeans_request |
| segments | `Segments.load` | SchemaError |
| package | `open_package` | CorruptDataError, SignatureError, PolicyError |
| package_signed | the same, re-signed, re-encrypted | as package |
| signed_message | `VerifyKey.verify` | SignatureError |
| linear_model | `LinearModel.from_dict` | SchemaError |
| error_body | `protocol.error_body` | nothing: it returns (detail, error) |
| keystore | `KeySet.load`, right and wrong passphrase | CorruptDataError, WrongPassphraseError |
| keystore_inner | `KeySet.load` of a re-sealed inner container | CorruptDataError, |
| | | WrongPassphraseError |
| compact_bundle | `multiparty.compact.from_compact_bytes` (pinned) | CorruptDataError, |
| | | KeyMismatchError |
| share | `wire.shares.open_share` | CorruptDataError, KeyMismatchError, SignatureError |
| codecryption_request | `CoDecryptionRequest.verify`, the payload signed | CorruptDataError, |
| | | SignatureError |
| request_package | `relay.RequestPackage.from_bytes` | CorruptDataError |
| answer_package | `relay.Answer.from_bytes` | CorruptDataError |
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, _keystore, container, iter_vectors
from hedge.ckks.multiparty import Flooding, LocalConsortium, decryption_share
from hedge.ckks.multiparty.compact import compact_bytes, from_compact_bytes
from hedge.data import Schema
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    SchemaError,
    SecretMaterialError,
    ShapeError,
    SignatureError,
    WrongPassphraseError,
)
from hedge.ml import EncryptedDataset, LinearModel
from hedge.ml.confusion import EncryptedConfusion
from hedge.ml.evaluation import EncryptedEvaluation
from hedge.ml.model import EncryptedLinearModel
from hedge.ml.pooled_statistics import PooledStatistics
from hedge.ml.sign_approximation import SignApproximation
from hedge.segmentation import SegmentOwner, SegmentSite, aggregate, value_scale
from hedge.segmentation.run import KMeansResult
from hedge.segmentation.segments import Segments
from hedge.wire.package import AlertPolicy, build_package, new_package_key, open_package
from hedge.wire.protocol import error_body
from hedge.wire.relay import Answer, RequestPackage
from hedge.wire.requests import CoDecryptionRequest, Coverage
from hedge.wire.shares import ShareContext, ciphertext_digest, open_share, seal_share
from hedge.wire.signing import SigningKey, VerifyKey, canonical_json

ACCEPTED, SKIPPED = "accepted", "skipped"
PASSPHRASE = "correct horse battery staple"
SITE = "plant-1"
FEATURES = 2


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], str]
    seeds: Callable[[], list[bytes]]
    raises: tuple[type[HedgeError], ...]
    #: Seconds one input may take (scrypt with the largest KDF parameters a keystore may
    #: declare takes seconds).
    time_bound: float = 5.0


def outcome(run: Callable[[], object], raises: tuple[type[HedgeError], ...]) -> str:
    """"accepted" or the name of the expected `HedgeError` subclass raised; an unexpected
    `HedgeError` subclass is re-raised as `AssertionError`, anything else propagates."""
    try:
        run()
    except raises as exc:
        return type(exc).__name__
    except HedgeError as exc:
        raise AssertionError(f"{type(exc).__name__} is not among {[r.__name__ for r in raises]}"
                             f": {exc}") from exc
    return ACCEPTED


# -- fixtures (built once per process) -------------------------------------------------------


@functools.cache
def keys() -> KeySet:
    return KeySet.generate("fast", rotations=[1])


@functools.cache
def bundle() -> PublicBundle:
    return keys().public()


@functools.cache
def schema() -> Schema:
    return Schema.from_dict({"version": 1, "features": [
        {"name": "a", "kind": "numeric", "low": -1.0, "high": 1.0},
        {"name": "b", "kind": "numeric", "low": 0.0, "high": 10.0}],
        "label": {"name": "y", "kind": "binary", "positive": 1}})


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, FEATURES))
    return x, np.arange(n, dtype=np.float64) % 2


@functools.cache
def datasets() -> list[EncryptedDataset]:
    b, columns = bundle(), ["a", "b"]
    one = EncryptedDataset.encrypt(b, *_rows(5, 1), columns)
    two = EncryptedDataset.concat([one, EncryptedDataset.encrypt(b, *_rows(3, 2), columns)])
    regression = EncryptedDataset.encrypt_regression(b, _rows(4, 3)[0],
                                                     np.linspace(-0.5, 0.5, 4), columns)
    frame = pd.DataFrame({"a": [-0.5, 0.2, 0.9, 0.0], "b": [1.0, 2.0, 9.0, 5.0],
                          "y": [0, 1, 0, 1]})
    framed = EncryptedDataset.from_frame(frame, schema(), b, class_weight="balanced", l2=0.1)
    return [one, two, regression, framed]


@functools.cache
def dataset_seeds() -> list[bytes]:
    return [d.to_bytes() for d in datasets()]


@functools.cache
def vector_seeds() -> list[bytes]:
    b = bundle()
    short = b.encrypt(np.array([0.25, -0.5, 1.0]))
    long = b.encrypt(np.linspace(-1, 1, b.params.slot_count + 3)).at_level(1)
    total = EncryptedVector(b, short.at_level(0).ciphertexts, 1, replicated=True)
    return [short.to_bytes(), short.at_level(0).to_bytes(), long.to_bytes(), total.to_bytes()]


@functools.cache
def bundle_seeds() -> list[bytes]:
    return [bundle().to_bytes(), bundle().for_encryption().to_bytes()]


MODEL = LinearModel(["a", "b"], 0.25, np.array([1.5, -2.0]))


@functools.cache
def model_seeds() -> list[bytes]:
    b = bundle()
    with_schema = LinearModel(["a", "b"], -0.5, np.array([0.75, 0.125]), schema().to_dict())
    tiled = EncryptedLinearModel.encrypt(with_schema, b)
    plain = EncryptedLinearModel(tiled.weights, tiled.layout, tiled.columns, None, "ridge")
    return [tiled.to_bytes(), plain.to_bytes()]


@functools.cache
def evaluation_seeds() -> list[bytes]:
    b, width = bundle(), 4
    confusion = EncryptedConfusion(b.encrypt(np.zeros(width + 1)), 5, width,
                                   SignApproximation.for_levels(6), 2.0)
    return [EncryptedEvaluation(b.encrypt(np.array([3.0])), confusion).to_bytes()]


@functools.cache
def statistics_seeds() -> list[bytes]:
    return [PooledStatistics.of(d).to_bytes() for d in datasets() if d.task == "classification"
            and d.statistics is not None][:2]


@functools.cache
def kmeans() -> tuple[SegmentOwner, dict[str, Any], dict[str, Any], list[bytes]]:
    """(owner, round 0 request, round 1 request, two sites' uploads answering round 1)."""
    owner = SegmentOwner(keys())
    rows = [_rows(6, 4)[0], _rows(9, 5)[0]]
    scale = value_scale(bundle(), sum(len(r) for r in rows))
    run = owner.new_run()
    first = owner.request(run, 0, scale)
    second = owner.request(run, 1, scale, np.array([[0.5, -0.5], [-0.25, 0.75]]))
    uploads = [SegmentSite(f"site-{i}", r, bundle(), owner.signing_key.verify_key).respond(second)
               for i, r in enumerate(rows)]
    return owner, first, second, uploads


@functools.cache
def segments_seeds() -> list[bytes]:
    result = KMeansResult(np.array([[0.5, -0.5], [-0.25, 0.75]]), np.array([4.0, 5.0]), 1.5, 3,
                          True, 7, [])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "segments.json"
        Segments.from_result(result, Schema.from_dict(
            {"version": 1, "features": schema().to_dict()["features"]})).save(path)
        return [path.read_bytes()]


@functools.cache
def package_fixture() -> tuple[SigningKey, bytes]:
    return SigningKey(), new_package_key()


def _package(version: int, sequence: int, *, replaces: int | None = None,
             alert: AlertPolicy | None = None) -> bytes:
    owner, key = package_fixture()
    model = LinearModel(["a", "b"], 0.25, np.array([1.5, -2.0]), schema().to_dict())
    return build_package(model, site=SITE, sequence=sequence, version=version, signing_key=owner,
                         package_key=key, replaces=replaces, alert=alert)


@functools.cache
def package_seeds() -> list[bytes]:
    return [_package(2, 2), _package(0, 3, replaces=1), _package(3, 4, alert=AlertPolicy(0.7, 0.1))]


def _open(raw: bytes) -> object:
    owner, key = package_fixture()
    return open_package(raw, site=SITE, owner=owner.verify_key, package_key=key,
                        active_version=1, highest_version=1, last_sequence=1)


_NONCE = b"\x07" * 12


@functools.cache
def package_signed_seeds() -> list[bytes]:
    """{"manifest": the manifest without its hash, "model": the model's data}, for the target
    that signs and encrypts whatever it is given."""
    out = []
    for raw in package_seeds():
        manifest = dict(json.loads(raw)["manifest"]["payload"])
        del manifest["sha256"]
        manifest["nonce"] = base64.b64encode(_NONCE).decode()
        model = LinearModel(["a", "b"], 0.25, np.array([1.5, -2.0]), schema().to_dict())
        out.append(json.dumps({"manifest": manifest, "model": model.to_dict()}).encode())
    return out


def _resigned_package(data: bytes) -> bytes | None:
    """The package the owner would build from a (mutated) manifest and model, or None."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("manifest"), dict):
        return None
    owner, key = package_fixture()
    manifest = dict(doc["manifest"])
    try:
        plain = json.dumps(doc.get("model")).encode()
        aad = canonical_json({k: v for k, v in manifest.items() if k != "sha256"})
        nonce = base64.b64decode(str(manifest.get("nonce")), validate=True)
        ciphertext = AESGCM(key).encrypt(nonce if len(nonce) == 12 else _NONCE, plain, aad)
        manifest.setdefault("sha256", hashlib.sha256(ciphertext).hexdigest())
        signed = owner.sign(manifest)
    except (ValueError, TypeError, RecursionError):
        return None
    return json.dumps({"format": "hedge-package-1", "manifest": signed,
                       "model": base64.b64encode(ciphertext).decode()}).encode()


def _json(data: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(data)
    except (ValueError, RecursionError):
        return False, None


@contextmanager
def _file(data: bytes, name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        yield path


@contextmanager
def fast_scrypt() -> Iterator[None]:
    """Keystores written meanwhile use scrypt N = 2^4 (what a file declares is what is read)."""
    saved = _keystore.SCRYPT_N
    _keystore.SCRYPT_N = 2**4
    try:
        yield
    finally:
        _keystore.SCRYPT_N = saved


@functools.cache
def keystore_seeds() -> list[bytes]:
    with fast_scrypt(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keys.hks"
        keys().save(path, passphrase=PASSPHRASE)
        return [path.read_bytes()]


@functools.cache
def keystore_inner_seeds() -> list[bytes]:
    k = keys()
    return [container.to_bytes(
        container.Kind.KEYSTORE,
        {"rotation_steps": list(k.rotation_steps), "max_releases": k.max_releases,
         "releases_used": 3},
        [(9, k.export_secret_key_unsafe()), (1, bundle()._public_key.to_string())])]


# -- the parsers, as the harness calls them ----------------------------------------------------

_VECTOR_ERRORS = (CorruptDataError, KeyMismatchError)


def run_container(data: bytes) -> str:
    def parse() -> None:
        kind = container.peek_kind(data) or container.Kind.VECTOR
        container.from_bytes(data, kind)
        stream = io.BytesIO(data)
        header, records = container.read_container(stream, None)
        assert isinstance(header.fields, dict)
        for _ in records:
            pass
    return outcome(parse, (CorruptDataError,))


def run_vector(data: bytes) -> str:
    return outcome(lambda: EncryptedVector.from_bytes(data, bundle()), _VECTOR_ERRORS)


def run_vectors(data: bytes) -> str:
    return outcome(lambda: list(iter_vectors(io.BytesIO(data), bundle())), _VECTOR_ERRORS)


def run_bundle(data: bytes) -> str:
    fingerprint = bundle().fingerprint
    return outcome(lambda: PublicBundle.from_bytes(data, expected_fingerprint=fingerprint),
                   (CorruptDataError, KeyMismatchError, SecretMaterialError))


def run_dataset(data: bytes) -> str:
    return outcome(lambda: EncryptedDataset.from_bytes(data, bundle()), _VECTOR_ERRORS)


def run_model(data: bytes) -> str:
    return outcome(lambda: EncryptedLinearModel.from_bytes(data, bundle()), _VECTOR_ERRORS)


def run_evaluation(data: bytes) -> str:
    return outcome(lambda: EncryptedEvaluation.from_bytes(data, bundle()), _VECTOR_ERRORS)


def run_statistics(data: bytes) -> str:
    return outcome(lambda: PooledStatistics.from_bytes(data, bundle()), _VECTOR_ERRORS)


_CONTRIBUTION_ERRORS = (CorruptDataError, KeyMismatchError, ShapeError, ParameterError)


def run_contribution(data: bytes) -> str:
    """The cloud adds one site's upload: a malformed one is rejected (its error recorded)."""
    _, _, request, _ = kmeans()
    pooled = aggregate(bundle(), {"site": data}, request, FEATURES)
    if "site" in pooled.sites:
        return ACCEPTED
    name = pooled.rejected["site"].split(":", 1)[0]
    allowed = [e.__name__ for e in _CONTRIBUTION_ERRORS]
    assert name in allowed, f"rejected with {name}, not among {allowed}"
    return name


#: ShapeError: signed centroids of another width than the site's features; ParameterError: a
#: signed scale whose totals overflow the preset (the encryption refuses)
_REQUEST_ERRORS = (SignatureError, CorruptDataError, KeyMismatchError, PolicyError, ShapeError,
                   ParameterError)


def _respond(message: Any) -> str:
    owner = kmeans()[0]
    site = SegmentSite("site", _rows(4, 6)[0], bundle(), owner.signing_key.verify_key)
    return outcome(lambda: site.respond(message), _REQUEST_ERRORS)


def run_kmeans_request(data: bytes) -> str:
    parsed, message = _json(data)
    return _respond(message) if parsed else SKIPPED


def run_kmeans_request_signed(data: bytes) -> str:
    parsed, payload = _json(data)
    if not parsed:
        return SKIPPED
    try:
        signed = kmeans()[0].signing_key.sign(payload)
    except (ValueError, TypeError, RecursionError):  # what canonical JSON cannot hold
        return SKIPPED
    return _respond(signed)


def run_segments(data: bytes) -> str:
    with _file(data, "segments.json") as path:
        return outcome(lambda: Segments.load(path), (SchemaError,))


_PACKAGE_ERRORS = (CorruptDataError, SignatureError, PolicyError)


def run_package(data: bytes) -> str:
    return outcome(lambda: _open(data), _PACKAGE_ERRORS)


def run_package_signed(data: bytes) -> str:
    raw = _resigned_package(data)
    return SKIPPED if raw is None else outcome(lambda: _open(raw), _PACKAGE_ERRORS)


def run_signed_message(data: bytes) -> str:
    parsed, message = _json(data)
    if not parsed:
        return SKIPPED
    verify = package_fixture()[0].verify_key.verify
    return outcome(lambda: verify(message), (SignatureError,))


def run_linear_model(data: bytes) -> str:
    parsed, body = _json(data)
    return outcome(lambda: LinearModel.from_dict(body), (SchemaError,)) if parsed else SKIPPED


def run_error_body(data: bytes) -> str:
    detail, error = error_body(data)
    assert detail is None or isinstance(detail, str)
    assert error is None or isinstance(error, str)
    return ACCEPTED if detail is not None or error is not None else "none"


_KEYSTORE_ERRORS = (CorruptDataError, WrongPassphraseError)


def run_keystore(data: bytes) -> str:
    with _file(data, "keys.hks") as path:
        right = outcome(lambda: KeySet.load(path, passphrase=PASSPHRASE), _KEYSTORE_ERRORS)
        wrong = outcome(lambda: KeySet.load(path, passphrase="not it"), _KEYSTORE_ERRORS)
    assert wrong != ACCEPTED, "a keystore opened with the wrong passphrase"
    return right


def run_keystore_inner(data: bytes) -> str:
    k = keys()
    header = {"param_id": k.params.param_id, "params": k.params.to_dict(),
              "fingerprint": k.fingerprint}
    with fast_scrypt():
        sealed = _keystore.seal_payload(data, PASSPHRASE, header)
    with _file(sealed, "keys.hks") as path:
        return outcome(lambda: KeySet.load(path, passphrase=PASSPHRASE), _KEYSTORE_ERRORS)


@functools.cache
def consortium() -> LocalConsortium:
    return LocalConsortium.generate(keys().params, ["owner", "plant-1"], rotations=[1])


@functools.cache
def share_fixture() -> tuple[ShareContext, X25519PrivateKey, dict[str, VerifyKey], list[bytes]]:
    c = consortium()
    ct = c.bundle.encrypt([0.5, -0.25]).ciphertexts[0]
    context = ShareContext("job-1/model", ciphertext_digest(ct), "owner")
    recipient, signing = X25519PrivateKey.generate(), {h: SigningKey() for h in c.shares}
    sealed = [seal_share(decryption_share(share, h, ct, 1.0), context, signing[h],
                         recipient.public_key()) for h, share in c.shares.items()]
    return context, recipient, {h: k.verify_key for h, k in signing.items()}, sealed


def run_compact_bundle(data: bytes) -> str:
    fingerprint = consortium().bundle.fingerprint
    return outcome(lambda: from_compact_bytes(data, expected_fingerprint=fingerprint),
                   (CorruptDataError, KeyMismatchError))


def run_share(data: bytes) -> str:
    context, recipient, holders, _ = share_fixture()
    return outcome(lambda: open_share(data, context, recipient, holders, keys().params),
                   (CorruptDataError, KeyMismatchError, SignatureError))


@functools.cache
def request_fixture() -> tuple[SigningKey, dict[str, Any]]:
    """The owner's signing key and a co-decryption request's payload."""
    request = CoDecryptionRequest.new(
        consortium=consortium().bundle.fingerprint, job="job-1", kind="model",
        digests=[hashlib.sha256(b"ct").hexdigest()], uploads=[Coverage(1, "plant-1", 40)],
        recipient="owner", recipient_key=X25519PrivateKey.generate().public_key(),
        flooding=Flooding(released=9))
    return SigningKey(), request.payload()


def run_codecryption_request(data: bytes) -> str:
    parsed, payload = _json(data)
    if not parsed:
        return SKIPPED
    owner, _ = request_fixture()
    try:
        signed = owner.sign(payload)
    except (ValueError, TypeError, RecursionError):  # what canonical JSON cannot hold
        return SKIPPED
    return outcome(lambda: CoDecryptionRequest.verify(signed, owner.verify_key),
                   (CorruptDataError, SignatureError))


def relay_seeds() -> list[bytes]:
    """A request package (the fixture's request over one ciphertext) and an answer to it."""
    ct = consortium().bundle.encrypt([0.5]).ciphertexts[0]
    raw = bytes(ct.to_string())
    owner, payload = request_fixture()
    message = owner.sign(payload | {"digests": [hashlib.sha256(raw).hexdigest()]})
    _, _, _, sealed = share_fixture()
    return [RequestPackage(message, [raw]).to_bytes(),
            Answer(payload["request"], "plant-1", {"ab" * 32: sealed[0]}).to_bytes(),
            Answer(payload["request"], "plant-1", {}, "too few rows").to_bytes()]


def run_request_package(data: bytes) -> str:
    return outcome(lambda: RequestPackage.from_bytes(data), (CorruptDataError,))


def run_answer_package(data: bytes) -> str:
    return outcome(lambda: Answer.from_bytes(data), (CorruptDataError,))


def _json_seeds(*docs: Any) -> Callable[[], list[bytes]]:
    return lambda: [json.dumps(d).encode() for d in docs]


def _small_containers() -> list[bytes]:
    return [*vector_seeds()[:2], *evaluation_seeds(), kmeans()[3][0], *keystore_inner_seeds()]


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("container", run_container, _small_containers, (CorruptDataError,)),
    Target("vector", run_vector, vector_seeds, _VECTOR_ERRORS),
    Target("vectors", run_vectors, lambda: [b"".join(vector_seeds()[:2]), vector_seeds()[3]],
           _VECTOR_ERRORS),
    Target("bundle", run_bundle, bundle_seeds,
           (CorruptDataError, KeyMismatchError, SecretMaterialError)),
    Target("dataset", run_dataset, dataset_seeds, _VECTOR_ERRORS),
    Target("model", run_model, model_seeds, _VECTOR_ERRORS),
    Target("evaluation", run_evaluation, evaluation_seeds, _VECTOR_ERRORS),
    Target("statistics", run_statistics, statistics_seeds, _VECTOR_ERRORS),
    Target("contribution", run_contribution, lambda: kmeans()[3], _CONTRIBUTION_ERRORS),
    Target("kmeans_request", run_kmeans_request,
           lambda: [json.dumps(kmeans()[1]).encode(), json.dumps(kmeans()[2]).encode()],
           _REQUEST_ERRORS),
    Target("kmeans_request_signed", run_kmeans_request_signed,
           lambda: [json.dumps(kmeans()[1]["payload"]).encode(),
                    json.dumps(kmeans()[2]["payload"]).encode()], _REQUEST_ERRORS),
    Target("segments", run_segments, segments_seeds, (SchemaError,)),
    Target("package", run_package, package_seeds, _PACKAGE_ERRORS),
    Target("package_signed", run_package_signed, package_signed_seeds, _PACKAGE_ERRORS),
    Target("signed_message", run_signed_message,
           lambda: [json.dumps(package_fixture()[0].sign({"run": "r", "round": 1})).encode(),
                    json.dumps(json.loads(package_seeds()[2])["manifest"]).encode()],
           (SignatureError,)),
    Target("linear_model", run_linear_model,
           _json_seeds(MODEL.to_dict(), LinearModel(["a", "b"], -1.0, np.array([0.5, 0.25]),
                                                    None, "ridge").to_dict()),
           (SchemaError,)),
    Target("error_body", run_error_body,
           _json_seeds({"detail": "why", "error": "PolicyError"},
                       {"detail": [{"loc": ["body", "rows"], "msg": "too many"}],
                        "error": "CorruptDataError"}), ()),
    Target("keystore", run_keystore, keystore_seeds, _KEYSTORE_ERRORS, time_bound=30.0),
    Target("keystore_inner", run_keystore_inner, keystore_inner_seeds, _KEYSTORE_ERRORS),
    Target("compact_bundle", run_compact_bundle, lambda: [compact_bytes(consortium().bundle)],
           (CorruptDataError, KeyMismatchError)),
    Target("share", run_share, lambda: share_fixture()[3],
           (CorruptDataError, KeyMismatchError, SignatureError)),
    Target("request_package", run_request_package, lambda: relay_seeds()[:1],
           (CorruptDataError,)),
    Target("answer_package", run_answer_package, lambda: relay_seeds()[1:],
           (CorruptDataError,)),
    Target("codecryption_request", run_codecryption_request,
           lambda: [json.dumps(request_fixture()[1]).encode()],
           (CorruptDataError, SignatureError)),
)}

#: Which subclass each target raises for malformed input (documentation and assertions).
EXPECTED = {name: [e.__name__ for e in t.raises] for name, t in TARGETS.items()}


def describe_targets() -> str:
    return "\n".join(f"{name}: {', '.join(errors) or 'nothing'}"
                     for name, errors in EXPECTED.items())


def environment() -> dict[str, str]:
    """What the fixtures ran with (for recorded runs)."""
    return {"preset": bundle().params.name, "rotation_steps": str(bundle().rotation_steps),
            "scrypt_n_of_seeds": "2**4", "pid": str(os.getpid())}
