"""`hedge owner init / add-site / status / deploy / rollback` against a real cloud process."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hedge.ckks import PublicBundle
from hedge.data import Schema
from hedge.errors import HedgeError
from hedge.ml import EncryptedDataset, LinearModel, plan_training
from hedge.owner.workspace import OwnerWorkspace
from hedge.services import CloudProcess
from hedge.wire.cloud_client import CloudClient
from hedge.wire.package import AlertPolicy, Manifest, open_package
from hedge.wire.signing import VerifyKey
from tests.cli.invoke import invoker

ENV = {"HEDGE_PASSPHRASE": "a long test passphrase"}


hedge = invoker(ENV)


def latest_package(site: CloudClient, enrolment: dict[str, Any], *, sequence: int,
                   active: int) -> tuple[Manifest, LinearModel]:
    """The site's latest deployment, which must be number `sequence`, opened as an edge
    running version `active` would."""
    latest = site.latest_deployment(enrolment["consortium"])
    assert latest is not None and latest[0] == sequence
    return open_package(latest[1], site=enrolment["site"],
                        owner=VerifyKey.from_str(enrolment["owner_key"]),
                        package_key=base64.b64decode(enrolment["package_key"]),
                        active_version=active, highest_version=active)


def test_owner_commands(tmp_path: Path) -> None:
    server = CloudProcess(tmp_path / "cloud", ["--workers", "1"])
    server.start()
    try:
        plan = plan_training("logistic", 2, 1000, iterations=1)
        small = dataclasses.replace(plan, preset="fast", rotation_steps=[1])  # a quick test
        small.save(tmp_path / "plan.json")
        owner = tmp_path / "owner"
        hedge("owner", "init", "--plan", tmp_path / "plan.json", "--cloud", server.url,
              "--admin-token-file", server.data_dir / "admin.token", "--name", "acme",
              "--dir", owner)
        for secret in ("keys.hks", "signing.pem", "owner.token"):
            assert oct((owner / secret).stat().st_mode & 0o777) == "0o600"
        with pytest.raises(HedgeError, match="already holds an owner"):
            hedge("owner", "init", "--plan", tmp_path / "plan.json", "--cloud", server.url,
                  "--admin-token-file", server.data_dir / "admin.token", "--name", "acme2",
                  "--dir", owner)
        hedge("owner", "add-site", "plant-1", "--dir", owner)
        enrolment = json.loads((owner / "sites" / "plant-1.json").read_text())
        assert "plant-1" in hedge("owner", "status", "--dir", owner)
        earlier = OwnerWorkspace.open(owner)  # a process that opened it before any deploy
        model = LinearModel(["a", "b"], 0.1, np.array([1.0, -1.0]))
        model.save(tmp_path / "v1.json")
        hedge("owner", "deploy", tmp_path / "v1.json", "--dir", owner, "--alert-threshold", 0.7,
              "--hysteresis", 0.1)
        LinearModel(["a", "b"], 0.2, np.array([2.0, -1.0])).save(tmp_path / "v2.json")
        hedge("owner", "deploy", tmp_path / "v2.json", "--dir", owner)
        hedge("owner", "rollback", "--to", 1, "--dir", owner)
        site = CloudClient(server.url, enrolment["token"])
        manifest, released = latest_package(site, enrolment, sequence=3, active=2)
        assert manifest.rollback and manifest.version == 1 and released.intercept == 0.1
        assert manifest.alert == AlertPolicy(0.7, 0.1)  # the policy version 1 was signed with
        hedge("owner", "deploy", tmp_path / "v2.json", "--dir", owner)  # version 3
        earlier.deploy(earlier.model(1), ENV["HEDGE_PASSPHRASE"], rollback_to=1)
        manifest, _ = latest_package(site, enrolment, sequence=5, active=3)
        assert manifest.version == 1 and manifest.alert == AlertPolicy(0.7, 0.1)
        with pytest.raises(HedgeError, match="older one"):  # the sites run version 1 now
            hedge("owner", "rollback", "--to", 2, "--dir", owner)
        with pytest.raises(HedgeError, match="never deployed"):
            hedge("owner", "rollback", "--to", 7, "--dir", owner)
        # a site uploads; the owner has the pooled statistics released
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, (80, 2)).round(4)
        y = (x[:, 0] > 0).astype(float)
        bundle = PublicBundle.load(owner / "public.bundle")
        site.upload(enrolment["consortium"], "b1",
                    EncryptedDataset.encrypt(bundle, x, y, ["a", "b"]).to_bytes())
        with pytest.raises(HedgeError, match="fewer than 50 rows"):
            hedge("owner", "prepare", "--dir", owner, "--min-rows", 50)
        hedge("owner", "prepare", "--dir", owner, "--min-rows", 10, "--out", tmp_path / "s.json")
        assert "(prepare): done" in hedge("owner", "status", "--dir", owner)  # jobs' kinds
        stats = json.loads((tmp_path / "s.json").read_text())
        assert stats["counts"] == [float((y == 0).sum()), float((y == 1).sum())]
        assert np.allclose(stats["means"][1], x[y == 1].mean(axis=0), atol=0.01)
        events = [json.loads(line)["event"] for line in (owner / "audit.jsonl").open()]
        assert events.count("refused") == 1 and events.count("release-statistics") == 1
        # an evaluation needs the standard preset's depth: the job fails and says so
        with pytest.raises(HedgeError, match="DepthExhaustedError"):
            hedge("owner", "evaluate", tmp_path / "v1.json", "--dir", owner)
        # the edge agent as its command: one cycle ingests a dropped file, and uploads it
        # with --flush although it is smaller than a batch
        edge = tmp_path / "edge"
        (edge / "incoming").mkdir(parents=True)
        frame = pd.DataFrame({"a": x[:30, 0], "b": x[:30, 1], "y": y[:30].astype(int)})
        frame.to_csv(edge / "incoming" / "rows.csv", index=False)
        Schema.infer(frame, label="y").save(edge / "schema.json")
        (edge / "edge.toml").write_text(
            f'enrolment = "{owner / "sites" / "plant-1.json"}"\ndata_dir = "data"\n'
            'schema = "schema.json"\n[source]\nfolder = "incoming"\nsettle_seconds = 0\n')
        waited = hedge("edge", "run", "--config", edge / "edge.toml", "--once")
        assert (edge / "incoming" / "done" / "rows.csv").exists()
        assert "30 buffered rows wait" in waited
        assert [u["rows"] for u in OwnerWorkspace.open(owner).uploads()] == [80]
        hedge("edge", "run", "--config", edge / "edge.toml", "--once", "--flush")
        assert [u["rows"] for u in OwnerWorkspace.open(owner).uploads()] == [80, 30]
        with pytest.raises(HedgeError, match=r"this consortium has no uploads \[5\]; list "):
            hedge("owner", "train", "--upload", 5, "--wait", "--dir", owner)  # refused at once
    finally:
        server.stop()
