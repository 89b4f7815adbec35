"""`hedge demo` end to end through real HTTP on loopback (small AI4I sample), then a breach
drill: everything the cloud wrote or printed (its data directory: the SQLite database with its
WAL, the blobs, its token file; its log) holds no value of any uploaded row, as bytes or as
text, raw or scaled by the schema, no weight of the deployed model, no released aggregate, and
no key or token of the owner, its key service or a site (tests/breach.py: what is searched
where, and why)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from rich.console import Console

from hedge.ckks import KeySet, container
from hedge.data import Schema, datasets_dir, load_ai4i
from hedge.data.sites import AI4I_LEAKS
from hedge.demo import DemoSummary, run_demo
from hedge.ml.artifact import ArtifactKind
from hedge.ml.metrics import BRIER_BOUND
from hedge.wire.signing import load_private_key
from tests.breach import (
    Needle,
    Place,
    Region,
    Scanner,
    file_regions,
    float_needles,
    merged,
    report,
    secret_needles,
    sqlite_regions,
    text_needles,
    windows,
)

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

ROWS = 900
LABEL = "Machine failure"
#: Not needles: every binary field and header holds 0, 1 and -1 (so do a category's indicator
#: columns, the label and a tool wear of 0 min).
TRIVIAL = (0.0, 1.0, -1.0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    root = tmp_path_factory.mktemp("demo")
    summary = run_demo(root, rows=ROWS, console=Console(quiet=True))
    return root, summary


def test_the_flow_ends_with_an_active_model_everywhere(demo: tuple[Path, DemoSummary]) -> None:
    root, summary = demo
    s = summary
    assert sum(v["rows"] for v in s.sites.values()) == 630  # the 70 % training split
    assert sum(s.class_counts) == 630  # the preparation's released pooled counts
    assert all(v["version"] == 1 for v in s.sites.values())
    assert sum(v["scored"] for v in s.sites.values()) == 270
    assert s.auc > 0.6 and abs(s.auc - s.plain_auc) < 0.15
    # the cloud scored the released model, encrypted, on the 270 held-out encrypted rows
    e, p = s.evaluation, s.plain_evaluation
    assert e["rows"] == 270
    assert abs(e["brier"] - p["brier"]) <= e["brier_bound"]  # the bound its R states
    assert e["brier_bound"] >= BRIER_BOUND and e["brier_noise"] > 0
    assert abs(e["accuracy"] - p["accuracy"]) < 0.1  # sign approximation near the boundary
    for i in (1, 2, 3):
        lines = (root / f"edge-{i}" / "data" / "predictions.jsonl").read_text().splitlines()
        assert lines and json.loads(lines[0])["model_version"] == 1
    assert (root / "owner" / "audit.jsonl").exists()


# -- the breach drill -----------------------------------------------------------------------------

def _public(root: Path) -> set[float]:
    """Numbers the cloud learns by design (docs/security.md) and headers carry in clear: the
    consortium schema's declared ranges; the encrypted evaluation's margin bound R and its sign
    approximation's coefficients, and the tiled scale 1/R of the model it evaluated."""
    schema = json.loads((root / "schema.json").read_text())
    out = {float(f[k]) for f in schema["features"] for k in ("low", "high") if k in f}
    for path in (p for p in (root / "cloud" / "blobs").rglob("*") if p.is_file()):
        with path.open("rb") as f:
            kind = container.peek_kind(f.read(container.PREFIX_SIZE))
            if kind not in (ArtifactKind.EVALUATION, ArtifactKind.MODEL):
                continue
            f.seek(0)
            fields = container.read_header(f).fields
        out |= {float(fields[k]) for k in ("margin_bound", "tiled_scale") if k in fields}
        out |= {float(c) for stage in fields.get("stages", ()) for c in stage}
    return out


def _rows() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The rows `run_demo(rows=ROWS)` samples, all of which the edges upload (70 % to train on,
    the rest held out for the evaluation); the same rows as their text in the CSV; their lines."""
    path = datasets_dir() / "ai4i2020.csv"
    frame = load_ai4i().drop(columns=list(AI4I_LEAKS)).sample(n=ROWS, random_state=0)
    text = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lines = path.read_text(encoding="utf-8-sig").splitlines()[1:]
    return frame, text.loc[frame.index, list(frame.columns)], [lines[i] for i in frame.index]


def _value_needles(root: Path, public: set[float]) -> dict[str, list[Needle]]:
    frame, text, lines = _rows()
    schema = Schema.load(root / "schema.json")  # the consortium's, as the edges scale with it
    scaled = schema.features_matrix(frame)
    numeric = [c for c in frame.columns if c != LABEL and pd.api.types.is_numeric_dtype(frame[c])]
    out: dict[str, list[Needle]] = {"values": [], "scaled values": [], "rows": []}
    for n, index in enumerate(frame.index):
        for column in numeric:
            value, literal = float(frame.at[index, column]), text.at[index, column]
            if value not in TRIVIAL:
                what = f"row {index} {column} = {literal}"
                out["values"] += float_needles(value, what)
                out["values"] += text_needles(value, what, literal, public=public)
        for column, value in zip(schema.columns, scaled[n].tolist(), strict=True):
            if value not in TRIVIAL:
                what = f"row {index} {column} scaled to {value!r}"
                out["scaled values"] += float_needles(value, what)
                out["scaled values"] += text_needles(value, what, public=public)
        out["rows"] += [Needle("row", f"row {index}, its line in the CSV", lines[n].encode()),
                        Needle("row", f"row {index} as CSV text",
                               ",".join(text.loc[index]).encode())]
    return out


def _model_needles(root: Path, summary: DemoSummary, public: set[float]
                   ) -> dict[str, list[Needle]]:
    """The deployed model's weights (trained as ciphertext, deployed encrypted per site,
    evaluated encrypted) and the aggregates the owner released (the evaluation's metrics)."""
    model = json.loads((root / "owner" / "models" / "v1.json").read_text())
    weights = [float(w) for w in (model["intercept"], *model["coef"])]
    out: dict[str, list[Needle]] = {"model": [], "aggregates": []}
    for i, w in enumerate(weights):
        out["model"] += float_needles(w, f"model weight {i} = {w!r}")
        out["model"] += text_needles(w, f"model weight {i}", public=public)
    for name, value in summary.evaluation.items():
        if value is not None and value not in TRIVIAL and name != "rows":
            out["aggregates"] += float_needles(value, f"released {name} = {value!r}")
            out["aggregates"] += text_needles(value, f"released {name}", public=public)
    return out


def _token(path: Path) -> str:
    return path.read_text().strip()


def _secret_needles(root: Path) -> list[Needle]:
    owner = root / "owner"
    passphrase = _token(owner / "PASSPHRASE.demo")
    out = secret_needles(passphrase, "the owner's passphrase")
    out += secret_needles(_token(owner / "owner.token"), "the owner token")
    out += secret_needles(_token(owner / "keyservice.token"), "the key service's refresh token")
    out += secret_needles(_token(owner / "keyservice-admin.token"),
                          "the key service's admin token")
    for enrolment in sorted((owner / "sites").glob("*.json")):
        site = json.loads(enrolment.read_text())
        out += secret_needles(site["token"], f"the site token of {site['site']}")
        out += secret_needles(base64.b64decode(site["package_key"]),
                              f"the package key of {site['site']}")
    signing = load_private_key(owner / "signing.pem", passphrase, "a signing key")
    assert isinstance(signing, Ed25519PrivateKey)
    out += secret_needles(signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                          "the owner's signing key")
    out += secret_needles(_token(owner / "signing.pem"), "the owner's signing key file")
    keys = KeySet.load(owner / "keys.hks", passphrase=passphrase)
    secret = keys.export_secret_key_unsafe()
    # the coefficients (residues of the key modulo each prime), not the 88-byte SEAL header
    # with the parameter id, which every public key and ciphertext at its level shares
    p = keys.params
    coefficients = p.poly_modulus_degree * (len(p.data_bits) + 1) * 8
    out += windows(secret, "the CKKS secret key", start=len(secret) - coefficients)
    # the keystore's sealed bytes (the cloud holding them could try passphrases offline)
    _, records = container.from_bytes((owner / "keys.hks").read_bytes(),
                                      container.Kind.KEYSTORE)
    out += windows(records[0][1], "the owner's keystore (sealed)", stride=4096)
    return out


@pytest.fixture(scope="module")
def needles(demo: tuple[Path, DemoSummary]) -> dict[str, list[Needle]]:
    """The drill's needles by what they stand for (a value in many rows is one needle)."""
    root, summary = demo
    public = _public(root)
    groups = {**_value_needles(root, public), **_model_needles(root, summary, public),
              "secrets": _secret_needles(root)}
    return {name: merged(group) for name, group in groups.items()}


@pytest.fixture(scope="module")
def scanner(needles: dict[str, list[Needle]]) -> Scanner:
    return Scanner(n for group in needles.values() for n in group)


def _dump(cloud: Path, log: Path) -> Iterator[Region]:
    """Everything the cloud wrote: each file in its data directory (the database's files as
    binary, containers and packages parsed, the rest as text), its log, its database's rows."""
    for path in sorted(p for p in cloud.rglob("*") if p.is_file()):
        place: Place = "binary" if path.name.startswith("cloud.db") else "text"
        yield from file_regions(path, str(path.relative_to(cloud.parent)), place)
    yield from file_regions(log, log.name)
    yield from sqlite_regions(cloud / "cloud.db")  # after the files: reading leaves them be


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_breach_drill_over_everything_the_cloud_wrote(
        demo: tuple[Path, DemoSummary], needles: dict[str, list[Needle]],
        scanner: Scanner) -> None:
    root, summary = demo
    cloud = root / "cloud"
    db = sqlite3.connect(f"file:{cloud / 'cloud.db'}?mode=ro", uri=True)
    tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    digests = {d for (d,) in db.execute("SELECT digest FROM token")}
    (uploaded,) = db.execute("SELECT sum(rows) FROM upload").fetchone()
    db.close()
    assert {"consortium", "site", "token", "upload", "job", "deployment"} <= tables
    assert uploaded == ROWS  # every row of the sample went up, so each one is searched for
    assert len(needles["rows"]) == 2 * ROWS
    assert len(needles["model"]) >= 3 * len(summary.sites)  # recognisable as bytes and text
    # the owner's and the sites' tokens are known to the cloud by their SHA-256 digests
    owner = root / "owner"
    tokens = [_token(owner / "owner.token"),
              *(json.loads(p.read_text())["token"] for p in (owner / "sites").glob("*.json"))]
    assert {_digest(t) for t in tokens} <= digests
    sizes = dict.fromkeys(("payload", "binary", "text"), 0)

    def dump() -> Iterator[Region]:
        for region in _dump(cloud, root / "cloud.log"):
            sizes[region.place] += len(region.data)
            yield region

    hits = scanner.scan(dump())
    assert not hits, report(hits)
    # the containers were parsed: nearly all of the dump is ciphertext, its headers are text
    assert sizes["payload"] > 0.95 * sum(sizes.values()) and sizes["text"] > 10_000, sizes


def test_breach_drill_finds_what_is_planted(demo: tuple[Path, DemoSummary],
                                            needles: dict[str, list[Needle]], scanner: Scanner,
                                            tmp_path: Path) -> None:
    """The drill can fail: a needle of each kind planted in a copy of part of the cloud's data
    (its database, an upload, a package, its log) is found where it was put, but a float32 in a
    ciphertext, which is not searched there, as the chance hits show."""
    root, _ = demo
    cloud, copy = root / "cloud", tmp_path / "cloud"
    copy.mkdir()
    for name in ("cloud.db", "cloud.db-wal", "cloud.db-shm"):
        if (cloud / name).exists():
            shutil.copy2(cloud / name, copy / name)
    db = sqlite3.connect(copy / "cloud.db")
    blob, package = (db.execute(f"SELECT blob FROM {t} ORDER BY id").fetchone()[0]
                     for t in ("upload", "deployment"))

    def first(group: str, kind: str, place: Place = "text", what: str = "") -> Needle:
        return next(n for n in needles[group] if n.kind == kind and n.searched_in(place)
                    and what in n.what and not n.what.endswith("(big-endian)"))

    value64 = first("values", "float64", "payload")
    scaled32, value32 = first("scaled values", "float32"), first("values", "float32")
    text, header_text = first("scaled values", "text"), first("values", "text")
    weight = first("model", "text")
    window = first("secrets", "secret", "payload", "the CKKS secret key")
    token = first("secrets", "secret", what="the site token")
    key = first("secrets", "secret", what="package key of plant-1 (base64)")
    row = needles["rows"][0]
    big_endian = next(n for n in needles["scaled values"]
                      if n.what.endswith("(big-endian)") and n.searched_in("binary"))
    # the upload: text in its header, float64, float32 and a key window in its ciphertext
    upload = (cloud / "blobs" / blob[:2] / blob[2:]).read_bytes()
    header, records = container.from_bytes(upload, ArtifactKind.DATASET)
    upload = container.to_bytes(ArtifactKind.DATASET,
                                {**header.fields, "comment": header_text.raw.decode()}, records)
    path = _write(copy / "blobs" / "up" / "load", upload)
    payload = next(r for r in file_regions(path, "upload") if r.place == "payload")
    at = payload.start + len(payload.data) // 2
    planted = bytearray(upload)
    for offset, needle in ((at, value64), (at + 64, scaled32), (at + 128, window)):
        planted[offset:offset + len(needle.raw)] = needle.raw
    path.write_bytes(planted)
    _write(copy / "blobs" / "pa" / "ckage", (cloud / "blobs" / package[:2] / package[2:])
           .read_bytes().replace(b'"manifest"', b'"key": "' + key.raw + b'", "manifest"'))
    # the database: text in a row, a float64 as a REAL; a token file and a log
    db.execute("UPDATE job SET message = ?, compute_seconds = ? WHERE id = 1",
               (f"diverged at {text.raw.decode()}", struct.unpack(">d", big_endian.raw)[0]))
    db.commit()
    db.close()
    _write(copy / "site.token", token.raw + b"\n" + value32.raw)
    log = _write(tmp_path / "cloud.log", (root / "cloud.log").read_bytes()
                 + b"ERROR row " + row.raw + b" weight=" + weight.raw + b"\n")

    hits = scanner.scan(_dump(copy, log))
    expected: list[tuple[Needle, str, int | None]] = [
        (value64, "blobs/up/load", at), (window, "blobs/up/load", at + 128),
        (header_text, "blobs/up/load", None), (key, "blobs/pa/ckage", None),
        (text, "table job, column message", None), (big_endian, "cloud.db", None),
        (token, "site.token", None), (value32, "site.token", None),
        (row, "cloud.log", None), (weight, "cloud.log", None)]
    for needle, where, put in expected:
        assert any(h.needle == needle and where in h.where and put in (None, h.offset)
                   for h in hits), (needle, where, report(hits))
    assert not [h for h in hits if h.needle == scaled32], report(hits)
    # float32 in ciphertext would be chance: the needles turn up in one upload 10^5 times
    payloads = [Region(r.where, r.data, r.start) for r in file_regions(
        cloud / "blobs" / blob[:2] / blob[2:], "upload") if r.place == "payload"]
    float32 = Scanner(n for group in needles.values() for n in group if n.kind == "float32")
    assert len(float32.scan(payloads)) > 10_000


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
