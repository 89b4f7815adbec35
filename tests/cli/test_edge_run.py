"""`hedge edge run --once` against a real cloud process: a cycle whose deployment part fails
still ingests and uploads, exits 0 and says why."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from hedge.data import Schema
from hedge.ml import plan_training
from hedge.owner.workspace import OwnerWorkspace
from hedge.services import CloudProcess
from tests.cli.invoke import invoker

ENV = {"HEDGE_PASSPHRASE": "a long test passphrase", "COLUMNS": "200"}
hedge = invoker(ENV)


def test_a_cycle_with_a_hostile_deployment_still_uploads_exits_0_and_says_why(
        tmp_path: Path) -> None:
    server = CloudProcess(tmp_path / "cloud", ["--workers", "0"])
    server.start()
    try:
        plan = plan_training("logistic", 2, 1000, iterations=1)
        dataclasses.replace(plan, preset="fast", rotation_steps=[1]).save(tmp_path / "plan.json")
        owner = tmp_path / "owner"
        hedge("owner", "init", "--plan", tmp_path / "plan.json", "--cloud", server.url,
              "--admin-token-file", server.data_dir / "admin.token", "--name", "acme",
              "--dir", owner)
        hedge("owner", "add-site", "plant-1", "--dir", owner)
        enrolment = json.loads((owner / "sites" / "plant-1.json").read_text())
        # the site's next deployment is 200 KB of nested brackets: no package at all
        published = httpx.put(
            f"{server.url}/v1/consortia/{enrolment['consortium']}/sites/plant-1/deployments/1",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"Authorization": f"Bearer {(owner / 'owner.token').read_text().strip()}"})
        assert published.status_code in (200, 201), published.text
        edge = tmp_path / "edge"
        (edge / "incoming").mkdir(parents=True)
        rng = np.random.default_rng(2)
        frame = pd.DataFrame({"a": rng.uniform(-1, 1, 30).round(4),
                              "b": rng.uniform(-1, 1, 30).round(4), "y": [0, 1] * 15})
        frame.to_csv(edge / "incoming" / "rows.csv", index=False)
        Schema.infer(frame, label="y").save(edge / "schema.json")
        (edge / "edge.toml").write_text(
            f'enrolment = "{owner / "sites" / "plant-1.json"}"\ndata_dir = "data"\n'
            'schema = "schema.json"\n[source]\nfolder = "incoming"\nsettle_seconds = 0\n')
        said = hedge("edge", "run", "--config", edge / "edge.toml", "--once", "--flush")
        assert [u["rows"] for u in OwnerWorkspace.open(owner).uploads()] == [30]
        assert "the newest deployment was refused, the active model stays" in said
        again = hedge("edge", "run", "--config", edge / "edge.toml", "--once")
        assert "deployment was refused" not in again  # refused once, not tried every cycle
    finally:
        server.stop()
