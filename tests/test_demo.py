"""`hedge demo` end to end through real HTTP on loopback (small AI4I sample), then a breach
drill: everything the cloud wrote or printed holds no input value, no model weight, no
token of the owner or a site, no package key and no secret key bytes."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from hedge.ckks import KeySet
from hedge.data import Schema, load_ai4i
from hedge.data.sites import AI4I_LEAKS
from hedge.demo import run_demo
from hedge.ml.evaluate import BRIER_BOUND

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("demo")
    summary = run_demo(root, rows=900, console=Console(quiet=True))
    return root, summary


def test_the_flow_ends_with_an_active_model_everywhere(demo: tuple[Path, object]) -> None:
    root, summary = demo
    s = summary  # DemoSummary
    assert sum(v["rows"] for v in s.sites.values()) == 630  # the 70 % training split
    assert sum(s.class_counts) == 630  # the preparation's released pooled counts
    assert all(v["version"] == 1 for v in s.sites.values())
    assert sum(v["scored"] for v in s.sites.values()) == 270
    assert s.auc > 0.6 and abs(s.auc - s.plain_auc) < 0.15
    # the cloud scored the released model, encrypted, on the 270 held-out encrypted rows
    e, p = s.evaluation, s.plain_evaluation
    assert e["rows"] == 270
    assert abs(e["brier"] - p["brier"]) <= BRIER_BOUND
    assert abs(e["accuracy"] - p["accuracy"]) < 0.1  # sign approximation near the boundary
    for i in (1, 2, 3):
        lines = (root / f"edge-{i}" / "data" / "predictions.jsonl").read_text().splitlines()
        assert lines and json.loads(lines[0])["model_version"] == 1
    assert (root / "owner" / "audit.jsonl").exists()


def test_breach_drill_over_everything_the_cloud_wrote(demo: tuple[Path, object]) -> None:
    root, _ = demo
    cloud = root / "cloud"
    db = sqlite3.connect(cloud / "cloud.db")
    bundle_blob = db.execute("SELECT bundle FROM consortium").fetchone()[0]
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert {"consortium", "site", "token", "upload", "job", "deployment"} <= set(tables)
    rows = b"".join(repr(r).encode() for table in tables
                    for r in db.execute(f"SELECT * FROM {table}"))
    db.close()
    files = [p for p in cloud.rglob("*") if p.is_file() and p.name != bundle_blob[2:]]
    files.append(root / "cloud.log")  # what the service printed
    dump = rows + b"".join(p.read_bytes() for p in files)  # the public bundle is left out
    # tokens are kept as digests only; package keys never leave the owner and the sites
    secrets = [(root / "owner" / "owner.token").read_text().strip().encode()]
    for enrolment in (root / "owner" / "sites").glob("*.json"):
        site = json.loads(enrolment.read_text())
        secrets += [site["token"].encode(), site["package_key"].encode(),
                    base64.b64decode(site["package_key"])]
    assert len(secrets) == 1 + 3 * 3
    for secret_value in secrets:
        assert secret_value not in dump, secret_value[:8]
    frame = load_ai4i().drop(columns=list(AI4I_LEAKS)).sample(n=900, random_state=0)
    schema = Schema.infer(frame, label="Machine failure")
    scaled = schema.features_matrix(frame)
    numeric = frame.select_dtypes("number").drop(columns=["Machine failure"]).to_numpy()
    for i in range(0, 900, 90):
        values = [v for v in (*numeric[i], *scaled[i]) if abs(v) not in (0.0, 1.0)]
        needles = [np.float64(v).tobytes() for v in values]  # 0 and +-1 are in any binary
        needles.append(",".join(str(v) for v in frame.iloc[i].tolist()).encode())
        for needle in needles:
            assert needle not in dump, (i, needle)
    # nor the model: trained as ciphertext, deployed encrypted per site, evaluated encrypted
    model = json.loads((root / "owner" / "models" / "v1.json").read_text())
    texts = [repr(float(w)).encode() for w in (model["intercept"], *model["coef"])]
    assert sum(len(t) >= 6 for t in texts) >= 3  # the model is recognisable in text
    for weight in (model["intercept"], *model["coef"]):
        assert np.float64(weight).tobytes() not in dump, ("model", weight)
    for text in texts:  # a short one ("5.0") turns up by chance in megabytes of ciphertext
        assert len(text) < 6 or text not in dump, ("model", text)
    passphrase = (root / "owner" / "PASSPHRASE.demo").read_text().strip()
    secret = KeySet.load(root / "owner" / "keys.hks", passphrase=passphrase
                         ).export_secret_key_unsafe()
    middle = len(secret) // 2
    for part in (secret[:64], secret[middle : middle + 64], secret[-64:]):
        assert part not in dump
