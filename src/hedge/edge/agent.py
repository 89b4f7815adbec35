"""The edge agent: ingest rows into the durable buffer, encrypt and upload them in batches,
install the models the owner deploys, and score incoming rows with the active model.

Configuration: `hedge.edge.config` (TOML).

Guarantees: a row is acknowledged at its source only after the buffer committed it; a batch is
encrypted and uploaded under a fixed idempotency key until the cloud acknowledges it, so a crash
or an outage at any point loses nothing and counts nothing twice; a batch the cloud refuses for
good (not an outage) is set aside with its reason and its rows kept (`Buffer.quarantined`), and
the next batches go on. Rows from machine streams are deduplicated by their key (machine,
source timestamp); a stream row that breaks the schema goes to DATA_DIR/rejected.jsonl once
the others are committed (`hedge.edge.prepare`), and the others go on. Rolling-window features
(the schema's `windows`) are computed per machine before rows are buffered; rows the full
buffer refused come again and get the same features as without the wait. Predictions go to
DATA_DIR/predictions.jsonl and to the alert sinks (`hedge.edge.alerts`). A deployment is
installed only if genuine, for this site, newer (or a signed rollback) and self-checked.

`run` ingests and scores as rows arrive (one thread) while another encrypts and uploads
batches and looks for deployments every `interval` seconds. Uploads wait for a worthwhile
batch (`hedge.edge.uploader`: `[upload] batch_rows` pending, or the oldest pending row
`max_wait_seconds` old, or the buffer full); an open batch (after a crash or an outage) goes at
once; `step(flush=True)` uploads whatever is pending.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from hedge.ckks import PublicBundle
from hedge.cloud.client import CloudClient, CloudUnavailableError
from hedge.data import RollingWindows
from hedge.edge.alerts import AlertTracker
from hedge.edge.buffer import Buffer, BufferFullError, TooLargeForBufferError
from hedge.edge.config import EdgeConfig
from hedge.edge.connectors import Connector, Intake
from hedge.edge.models import ModelStore
from hedge.edge.prepare import FILE_STREAM, Prepared, prepare
from hedge.edge.report import StepReport
from hedge.edge.sinks import JsonlSink, Prediction, Sink
from hedge.edge.sources import (
    alert_sinks,
    open_connector,
)
from hedge.edge.streams import StreamIntake
from hedge.edge.uploader import Uploader
from hedge.errors import HedgeError
from hedge.runtime import freeze_heap

__all__ = ["EdgeAgent", "StepReport"]

log = logging.getLogger("hedge.edge")

class EdgeAgent:
    """`clock` (seconds since 1970) stamps the rows' arrival in the buffer and measures how
    long they have waited for a batch."""

    def __init__(self, config: EdgeConfig, connector: Connector | None = None,
                 client: CloudClient | None = None, sink: Sink | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        e = config.enrolment
        self.site, self.consortium = e.site, e.consortium
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.buffer = Buffer(config.data_dir / "buffer.db", config.max_bytes, self.site,
                             clock=clock)
        self.connector = connector or open_connector(config.source, config.data_dir)
        self.sinks: list[Sink] = [sink or JsonlSink(config.data_dir / "predictions.jsonl"),
                                  *alert_sinks(config.alerts, self.connector)]
        self.windows = RollingWindows(config.schema.windows)
        self.alerts = AlertTracker()
        self.client = client or CloudClient(e.cloud, e.token, verify=e.tls)
        self.models = ModelStore(config.data_dir / "models", site=self.site,
                                 owner=e.owner_key, package_key=e.package_key)
        self.uploader = Uploader(config, self.buffer, self.client)

    def close(self) -> None:
        self.connector.close()
        self.buffer.close()
        self.client.close()

    def bundle(self) -> PublicBundle:
        """The consortium's public bundle, fetched once and pinned to the enrolment's
        fingerprint."""
        return self.uploader.bundle()

    # -- one cycle ---------------------------------------------------------------------------

    def step(self, *, flush: bool = False) -> StepReport:
        """One cycle: ingest, upload the batches that are due (`flush`: every pending row,
        however few), look for a deployment."""
        report = StepReport()
        self._ingest(report)
        self._cloud(report, flush)
        report.waiting = self.buffer.pending()
        return report

    def _cloud(self, report: StepReport, flush: bool = False) -> None:
        """Upload what is due (or, with `flush`, everything buffered), then look for a
        deployment."""
        parts: tuple[Callable[[], None], ...] = (
            lambda: self.uploader.upload(report, self._class_counts(), flush),
            lambda: self._deployments(report))
        for part in parts:
            try:
                part()
            except CloudUnavailableError as exc:
                log.warning("%s: %s", self.site, exc)
            except HedgeError as exc:  # refused by the cloud: keep running, say why
                report.problem = f"{type(exc).__name__}: {exc}"
                log.error("%s: %s", self.site, exc)

    def ingest(self) -> StepReport:
        """Take what the connector has now into the buffer and score it (no cloud)."""
        report = StepReport()
        self._ingest(report)
        return report

    def _ingest(self, report: StepReport) -> None:
        for intake in self.connector.poll():
            stream = intake if isinstance(intake, StreamIntake) else None
            if stream is not None:  # stream rows: by key (machine, source time)
                fresh = self.buffer.fresh(stream.keys)  # the others were redelivered
                stream.drop([i for i, new in enumerate(fresh) if not new])
            elif self.buffer.seen(intake.name):  # a file committed before a crash
                intake.acknowledge()
                continue
            before, windows = len(intake.rows), self.windows.snapshot()
            try:
                prepared = prepare(self.config.schema, self.windows, intake)
            except HedgeError as exc:  # a file, refused whole
                self.windows.restore(windows)
                intake.reject(str(exc))
                report.rejected += before
                continue
            try:
                self._commit(intake, prepared)
            except TooLargeForBufferError as exc:
                self.windows.restore(windows)
                _refuse(intake, prepared.refused)
                intake.reject(f"larger than the whole buffer: {exc}; split it")
                report.rejected += before
                continue
            except BufferFullError as exc:
                self.windows.restore(windows)  # the same rows come again, judged the same
                log.warning("%s: %s", self.site, exc)
                report.buffer_full = True
                return  # the rows stay at their source until there is room
            _refuse(intake, prepared.refused)  # after the commit: see `_refuse`
            intake.acknowledge()
            report.rejected += len(prepared.refused)
            report.ingested += len(prepared.rows)
            report.alerts += self._score(prepared.frame, intake.name, prepared.keys)

    def _commit(self, intake: Intake, prepared: Prepared) -> None:
        """The prepared rows into the buffer, with the running class counts and a file's
        identity (recorded even for a file without rows)."""
        file = not isinstance(intake, StreamIntake)
        if prepared.rows or file:
            y = self.config.schema.label_vector(prepared.frame)
            self.buffer.add(prepared.rows, source=intake.name if file else None,
                            counts=self._count_classes(y), keys=prepared.keys)

    def _score(self, frame: pd.DataFrame, source: str,
               keys: list[tuple[str, int]] | None) -> int:
        """Predictions for the rows, to every sink; returns how many rows are in alert."""
        model = self.models.active()
        if model is None or frame.empty:
            return 0
        policy = self.models.alert or self.config.alerts.policy
        predictions = []
        for row, p in enumerate(model.predict_frame(frame)):
            stream, at = keys[row] if keys is not None else (FILE_STREAM, None)
            alert = self.alerts.update(stream, float(p), policy)
            predictions.append(Prediction(self.site, source, row, self.models.version,
                                          round(float(p), 6), alert,
                                          stream if keys is not None else None, at))
        for sink in self.sinks:
            sink.write(predictions)
        return sum(p.alert for p in predictions)

    def _count_classes(self, y: np.ndarray) -> dict[str, str]:
        """Running class counts with these labels (stored with them, for balanced weights)."""
        label = self.config.schema.label
        if label is None or label.kind != "binary":
            return {}
        n0, n1 = self._class_counts()
        return {"class_counts": json.dumps([n0 + int((y == 0).sum()),
                                            n1 + int((y == 1).sum())])}

    def _class_counts(self) -> tuple[int, int]:
        n0, n1 = json.loads(self.buffer.get("class_counts") or "[0, 0]")
        return int(n0), int(n1)

    def _deployments(self, report: StepReport) -> None:
        latest = self.client.latest_deployment(self.consortium)
        if latest is None or latest[0] <= self.models.sequence:
            return
        sequence, package = latest
        if self.buffer.get("refused") == str(sequence):
            return
        try:
            report.installed = self.models.install(package)
            log.info("%s: model version %d active", self.site, report.installed)
        except HedgeError as exc:
            self.buffer.set("refused", str(sequence))
            report.refused = f"{type(exc).__name__}: {exc}"
            log.warning("%s: deployment %d refused, the active model stays: %s", self.site,
                        sequence, exc)

    def run(self, stop: threading.Event, interval: float = 2.0) -> None:
        """Until `stop`: ingest and score as rows arrive (this thread); encrypt, upload and
        install deployments every `interval` seconds (a second thread). The process's heap
        is frozen once started (`hedge.runtime`), so that no full garbage collection pauses
        the alerts."""
        self.connector.start()
        self.models.active()  # loaded before the heap is frozen
        freeze_heap()
        uploads = threading.Thread(target=self._upload_loop, args=(stop, interval),
                                   name=f"upload-{self.site}", daemon=True)
        uploads.start()
        try:
            while not stop.is_set():
                self.connector.wait(interval)
                report = StepReport()
                self._ingest(report)
                if report.buffer_full:  # the waiting rows would be offered at once again
                    stop.wait(interval)
        finally:
            stop.set()
            uploads.join()

    def _upload_loop(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            self._cloud(StepReport())
            stop.wait(interval)


def _refuse(intake: Intake, refused: dict[int, str]) -> None:
    """Stream rows `prepare` refused (by position in the intake) to the rejected log. Only
    once the others are committed (or refused too): rows offered again because the buffer was
    full must meet the same rows, in the same windows, as the first time."""
    if isinstance(intake, StreamIntake):
        intake.reject_rows(refused)
