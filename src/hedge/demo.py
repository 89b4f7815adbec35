"""`hedge demo`: the whole system on this machine, on loopback, with embedded defaults.

Parties, each in its own directory under DATA_DIR:

* the cloud: `hedge cloud serve` (a separate process, one job worker) in DATA_DIR/cloud;
* the owner: keys, signing key, consortium (DATA_DIR/owner);
* three edge agents (DATA_DIR/edge-N), each connected to a simulated milling machine that
  replays its share of the AI4I 2020 rows: plants 1 and 2 over OPC UA (a server per plant on a
  free loopback port), plant 3 over MQTT (the local Mosquitto if it answers on
  127.0.0.1:1883, else an in-process broker). The machines replay the training rows, then the
  held-out rows (labelled, for the encrypted evaluation), then the held-out rows again as live
  production, which the edges score with the deployed model, writing each machine's failure
  risk and alert back to its OPC UA variables or MQTT alert topic.

Flow: plan, enrol, encrypt and upload, train on ciphertexts in the cloud, release, sign and
deploy, verify and activate at the edges, score and raise alerts. The summary compares the
encrypted-trained model's AUC with scikit-learn trained on the pooled plaintext.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from hedge.data import Schema, load_ai4i
from hedge.data.sites import AI4I_LEAKS
from hedge.edge import EdgeAgent, EdgeConfig
from hedge.errors import HedgeError, ParameterError
from hedge.files import write_atomic
from hedge.ml import plan_training
from hedge.ml.plan import Mode
from hedge.owner.workspace import OwnerWorkspace
from hedge.services import CloudProcess, KeyServiceProcess, free_port
from hedge.sim.broker import local_broker
from hedge.sim.edge_config import mqtt_sections, opcua_sections
from hedge.sim.mqtt_publisher import TelemetryPublisher
from hedge.sim.runner import SimulatorThread
from hedge.sim.telemetry import AI4I_ROW_VARIABLES as VARIABLES
from hedge.sim.telemetry import ReplaySource
from hedge.wire.mqtt_settings import MqttSettings

__all__ = ["DemoSummary", "run_demo"]

LABEL = "Machine failure"
RATE = 2000.0  # replayed cycles per second
MQTT_SITE = 2  # the third site's machine publishes over MQTT, the others serve OPC UA
#: MQTT topics: PREFIX/<machine>/telemetry and /alerts; `demo` is new for every run, so that
#: demos sharing a broker (the machine's Mosquitto) never see each other's machines
PREFIX = "hedge-demo-{demo}/{site}/milling"
#: stages the sites go through once per batch of rows (their times add up)
REPLAY, UPLOAD = "machines replay, edges ingest", "encrypt and upload"


@dataclass
class DemoSummary:
    sites: dict[str, dict[str, float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    compute_seconds: float = 0.0
    jobs: list[tuple[float, float]] = field(default_factory=list)  # (wall, compute) per job
    auc: float = 0.0
    plain_auc: float = 0.0
    #: the cloud's encrypted evaluation on the sites' held-out uploads (released metrics),
    #: and the same metrics computed in the clear, for comparison
    evaluation: dict[str, float | None] = field(default_factory=dict)
    class_counts: tuple[int, int] = (0, 0)  # released by the preparation job
    plain_evaluation: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)


def _edge_config(folder: Path, enrolment: Path, schema: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "edge.toml"
    config.write_text(f'enrolment = "{enrolment}"\ndata_dir = "data"\nschema = "{schema}"\n'
                      '[upload]\nbatch_rows = 5000\nclass_weight = "balanced"\n' + source)
    return config


@dataclass
class _Site:
    """An edge agent and the simulated machine it is connected to."""

    agent: EdgeAgent
    machine: SimulatorThread
    replay: ReplaySource

    def feed(self, rows: pd.DataFrame, timeout: float = 120.0) -> tuple[int, int]:
        """Replay `rows` on the machine; returns (rows ingested, rows in alert) once the edge
        has all of them."""
        self.replay.load(rows)
        self.machine.start_publishing()
        ingested = alerts = 0
        deadline = time.monotonic() + timeout
        while ingested < len(rows):
            if time.monotonic() > deadline:
                raise HedgeError(f"{self.agent.site}: {ingested} of {len(rows)} rows arrived "
                                 f"within {timeout:.0f} s; see {self.agent.config.data_dir}")
            self.agent.connector.wait(0.2)
            report = self.agent.ingest()
            ingested, alerts = ingested + report.ingested, alerts + report.alerts
        return ingested, alerts


def _connect_sites(owner: OwnerWorkspace, root: Path, first: pd.DataFrame, sites: int,
                   broker: str, stack: ExitStack) -> list[_Site]:
    """Enrol the sites, start their machines, connect their edges (closed with `stack`)."""
    out = []
    for i in range(sites):
        name, machine = f"plant-{i + 1}", f"mill-{i + 1}"
        replay = ReplaySource(machine, first, VARIABLES)
        if i == MQTT_SITE:
            run = secrets.token_hex(4)
            prefix = PREFIX.format(demo=run, site=name)
            publisher = stack.enter_context(TelemetryPublisher(MqttSettings.parse(broker),
                                                               prefix))
            sim = SimulatorThread([replay], rate=RATE, publisher=publisher)
            source = mqtt_sections(broker, f"hedge-demo-{run}-{name}", prefix, VARIABLES)
        else:
            sim = SimulatorThread([replay], rate=RATE, opcua_port=free_port())
            assert sim.server is not None
            source = opcua_sections(sim.server.endpoint, machine, VARIABLES)
        stack.enter_context(sim)
        config = _edge_config(root / f"edge-{i + 1}", owner.add_site(name).resolve(),
                              (root / "schema.json").resolve(), source)
        agent = EdgeAgent(EdgeConfig.load(config))
        stack.callback(agent.close)
        agent.connector.start()
        out.append(_Site(agent, sim, replay))
    return out


def run_demo(data_dir: str | os.PathLike[str] = "hedge-demo", *, rows: int | None = None,
             sites: int = 3, fresh: bool = False, repeat_training: int = 0,
             mode: Mode = "assisted", console: Console | None = None) -> DemoSummary:
    """Run the demo in `data_dir`; `fresh` replaces an earlier demo's directory there; `mode`
    'assisted' starts the owner's key service and trains with refreshes through it,
    'non-interactive' trains in the cloud alone;
    `repeat_training` trains that many more times on the same uploads (warm workers), each
    job's wall time and compute time going to `DemoSummary.jobs` (benchmarks)."""
    out = console or Console()
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    root = Path(data_dir)
    if (root / "owner" / "owner.json").exists():
        if not fresh:
            raise ParameterError(f"{root} holds an earlier demo; remove it, pass --fresh to "
                                 "replace it, or choose another --data-dir")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    summary, clock = DemoSummary(), time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()  # a stage marked again adds up
        summary.stages[name] = summary.stages.get(name, 0.0) + now - clock
        clock = now

    frame = load_ai4i().drop(columns=list(AI4I_LEAKS))
    if rows is not None:
        frame = frame.sample(n=rows, random_state=0)
    train, test = train_test_split(frame, test_size=0.3, stratify=frame[LABEL], random_state=0)
    schema = Schema.infer(frame, label=LABEL)  # the ranges the consortium agreed on
    schema.save(root / "schema.json")
    plan = plan_training("logistic", len(schema.columns), len(train), mode)
    out.print(f"[bold]plan[/bold]: preset {plan.preset}, {plan.iterations} iterations, "
              f"{len(plan.rotation_steps)} rotation keys")
    passphrase = secrets.token_urlsafe(16)
    # the key service's port is known before it starts: the cloud connects only there
    key_service = (KeyServiceProcess(root / "owner", passphrase, log=root / "keyservice.log")
                   if mode == "assisted" else None)
    allowed = ["--key-service", key_service.url] if key_service is not None else []
    cloud = CloudProcess(root / "cloud", ["--workers", "1", *allowed], log=root / "cloud.log")
    cloud.start()
    stack = ExitStack()
    try:
        stage("start cloud")
        # a demo keeps it for inspection (0600)
        write_atomic(root / "owner" / "PASSPHRASE.demo", (passphrase + "\n").encode())
        owner = OwnerWorkspace.create(root / "owner", plan, cloud=cloud.url,
                                      admin_token=(root / "cloud" / "admin.token").read_text()
                                      .strip(), name="demo", passphrase=passphrase)
        if key_service is not None:
            key_service.start()
            owner = OwnerWorkspace.open(root / "owner")  # the service recorded its URL there
        stage("owner keys and consortium")
        out.print(f"[bold]owner[/bold]: consortium {owner.consortium}, keys "
                  f"{owner.state['fingerprint'][:12]}…")
        parts = np.array_split(np.random.default_rng(0).permutation(len(train)), sites)
        tests = np.array_split(np.arange(len(test)), sites)
        broker = stack.enter_context(local_broker())
        plants = _connect_sites(owner, root, train.iloc[parts[0]], sites, broker, stack)
        stage("enrol sites, start machines")
        over_mqtt = sites > MQTT_SITE
        out.print(f"[bold]machines[/bold]: {sites - over_mqtt} over OPC UA"
                  + (f", 1 over MQTT ({broker})" if over_mqtt else ""))
        for plant, rows_ in zip(plants, parts, strict=True):
            plant.feed(train.iloc[rows_])
            stage(REPLAY)
            report = plant.agent.step(flush=True)  # the replay is over: no more rows come
            stage(UPLOAD)
            summary.sites[plant.agent.site] = {"rows": report.uploaded_rows,
                                               "bytes": report.uploaded_bytes}
            out.print(f"[bold]{plant.agent.site}[/bold]: {report.uploaded_rows} rows from its "
                      f"machine encrypted and uploaded ({report.uploaded_bytes / 1e6:.1f} MB)")
        history = _upload_ids(owner)
        for plant, rows_ in zip(plants, tests, strict=True):  # labelled rows, held out
            plant.feed(test.iloc[rows_])
            stage(REPLAY)
            plant.agent.step(flush=True)  # one upload per site, held out for evaluation
            stage(UPLOAD)
        validation = sorted(set(_upload_ids(owner)) - set(history))
        prepared = owner.prepare(history)
        owner.wait(prepared, poll=0.1)
        stats = owner.release_statistics(prepared, passphrase, min_rows=10)
        summary.class_counts = (int(stats.counts[0]), int(stats.counts[1]))
        stage("prepare: pooled statistics")
        out.print(f"[bold]owner[/bold]: pooled statistics released: {summary.class_counts[0]} "
                  f"rows without failure, {summary.class_counts[1]} with (no site's own)")
        for _ in range(1 + repeat_training):
            job, wall, compute = _train(owner, history)
            summary.jobs.append((wall, compute))
        summary.train_seconds, summary.compute_seconds = summary.jobs[0]
        stage("train in the cloud")
        out.print(f"[bold]cloud[/bold]: trained on ciphertexts in {summary.train_seconds:.1f} s "
                  f"({summary.compute_seconds:.1f} s of it homomorphic computation)")
        model = owner.release(job, passphrase)
        x_test, y_test = schema.features_matrix(test), schema.label_vector(test)
        summary.auc = float(roc_auc_score(y_test, model.decision_function(x_test)))
        plain = LogisticRegression(class_weight="balanced", max_iter=5000).fit(
            schema.features_matrix(train), schema.label_vector(train))
        summary.plain_auc = float(roc_auc_score(y_test, plain.decision_function(x_test)))
        stage("release")
        evaluation = owner.evaluate(model, validation)
        owner.wait(evaluation, poll=0.1)
        summary.evaluation = owner.release_evaluation(evaluation, passphrase).as_dict()
        summary.plain_evaluation = {
            "brier": float(np.mean((y_test - model.predict_proba(x_test)) ** 2)),
            "accuracy": float(np.mean((model.decision_function(x_test) > 0) == (y_test == 1)))}
        stage("evaluate in the cloud")
        out.print(f"[bold]cloud[/bold]: scored the released model, encrypted, on "
                  f"{len(test)} held-out encrypted rows")
        version = owner.deploy(model, passphrase)
        stage("sign and deploy")
        for plant, rows_ in zip(plants, tests, strict=True):
            plant.agent.step()  # installs the model
            scored, alerts = plant.feed(test.iloc[rows_])  # live: scored, alerts to the machine
            summary.sites[plant.agent.site].update(
                version=float(plant.agent.models.version or 0), scored=float(scored),
                alerts=float(alerts))
        stage("activate and score at the edges")
        out.print(f"[bold]owner[/bold]: model version {version} signed and deployed")
    finally:
        stack.close()
        if key_service is not None:
            key_service.stop()
        cloud.stop()
    _print(out, summary, root)
    return summary


def _upload_ids(owner: OwnerWorkspace) -> list[int]:
    return [int(u["id"]) for u in owner.uploads()]


def _train(owner: OwnerWorkspace, uploads: list[int]) -> tuple[int, float, float]:
    """Queue a training job and wait for it: (job id, wall seconds, compute seconds)."""
    started = time.perf_counter()
    job = owner.train("logistic", uploads=uploads)
    state = owner.wait(job, poll=0.1)
    return job, time.perf_counter() - started, float(state["compute_seconds"])


def _print(out: Console, s: DemoSummary, root: Path) -> None:
    t = Table(title="hedge demo: AI4I 2020 predictive maintenance across 3 plants")
    for col in ("site", "rows uploaded", "MB uploaded", "model version", "rows scored",
                "alerts"):
        t.add_column(col, justify="right")
    for name, v in s.sites.items():
        t.add_row(name, f"{v['rows']:.0f}", f"{v['bytes'] / 1e6:.1f}",
                  f"{v.get('version', 0):.0f}", f"{v.get('scored', 0):.0f}",
                  f"{v.get('alerts', 0):.0f}")
    out.print(t)
    out.print(f"training on ciphertexts: {s.train_seconds:.1f} s; test AUC of the encrypted-"
              f"trained model {s.auc:.3f}, plaintext scikit-learn on the pooled data "
              f"{s.plain_auc:.3f}")
    e, p = s.evaluation, s.plain_evaluation
    if e:
        out.print(f"encrypted evaluation in the cloud on {e['rows']:.0f} held-out rows: Brier "
                  f"{e['brier']:.4f} (in the clear {p['brier']:.4f}; stated bound "
                  f"±{e['brier_bound']:.3f} for the margin bound R its weights carry), accuracy "
                  f"{e['accuracy']:.3f} (in the clear {p['accuracy']:.3f})")
    out.print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.stages.items()))
    out.print(f"everything each party wrote is under {root}/ (cloud/, owner/, edge-N/)")
