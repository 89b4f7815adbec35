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
installed only if genuine, for this site, newer (or a signed rollback) and self-checked; one
that cannot be installed, for whatever reason, is refused once (its sequence recorded) and the
active model stays.

Each part of a cycle fails alone: ingest, upload, deployments, and scoring with each sink.
An outage is logged as a warning, a refusal (a `HedgeError`) goes to `StepReport.problem`, and
any other exception is logged with its traceback and listed in `StepReport.failures` under the
part's name; the other parts still run, in this cycle and the next.

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
from functools import partial

import numpy as np
import pandas as pd

from hedge.ckks import PublicBundle
from hedge.data import RollingWindows
from hedge.edge.alerts import AlertTracker
from hedge.edge.buffer import Buffer
from hedge.edge.config import EdgeConfig
from hedge.edge.connectors import Connector, Intake
from hedge.edge.holding import HolderDuty
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
from hedge.errors import BufferFullError, CloudUnavailableError, HedgeError, TooLargeForBufferError
from hedge.files import private_dir
from hedge.runtime import freeze_heap
from hedge.wire.cloud_client import CloudClient

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
        private_dir(config.data_dir)  # the site's own rows, in clear: for its user alone
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
        self.holding = (HolderDuty(config.holder, self.site, e.owner_key)
                        if config.holder is not None else None)

    def close(self) -> None:
        self.connector.close()
        self.buffer.close()
        self.client.close()
        if self.holding is not None:
            self.holding.close()

    def bundle(self) -> PublicBundle:
        """The consortium's public bundle, fetched once and pinned to the enrolment's
        fingerprint."""
        return self.uploader.bundle()

    # -- one cycle ---------------------------------------------------------------------------

    def step(self, *, flush: bool = False) -> StepReport:
        """One cycle: ingest, upload the batches that are due (`flush`: every pending row,
        however few), look for a deployment; each part fails alone (`_part`)."""
        report = StepReport()
        self._part(report, "ingest", lambda: self._ingest(report))
        self._cloud(report, flush)
        report.waiting = self.buffer.pending()
        return report

    def _cloud(self, report: StepReport, flush: bool = False) -> None:
        """Upload what is due (or, with `flush`, everything buffered), look for a deployment,
        answer the co-decryption requests that wait for this site as key holder; each part
        fails alone."""
        self._part(report, "upload",
                   lambda: self.uploader.upload(report, self._class_counts(), flush))
        self._part(report, "deployments", lambda: self._deployments(report))
        holding = self.holding
        if holding is not None:
            self._part(report, "co-decryptions", lambda: report.codecryptions.update(
                holding.answer(self.client, self.consortium)))

    def _part(self, report: StepReport, name: str, part: Callable[[], None]) -> None:
        """Run one part of a cycle so that it fails alone: an outage is logged, a refusal is
        the report's `problem`, any other exception is logged with its traceback and listed
        in the report's `failures` as "NAME: TYPE: MESSAGE". Returns normally in every case
        (BaseExceptions such as KeyboardInterrupt excepted)."""
        try:
            part()
        except CloudUnavailableError as exc:
            log.warning("%s: %s", self.site, exc)
        except HedgeError as exc:  # refused (by the cloud, or by a check): say why
            report.problem = f"{type(exc).__name__}: {exc}"
            log.error("%s: %s", self.site, exc)
        except Exception as exc:
            report.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            log.exception("%s: %s failed; the other parts go on", self.site, name)

    def ingest(self) -> StepReport:
        """Take what the connector has now into the buffer and score it (no cloud); fails
        alone like a part of `step`."""
        report = StepReport()
        self._part(report, "ingest", lambda: self._ingest(report))
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
            self._part(report, "scoring",  # the rows are committed, whatever happens here
                       partial(self._score, report, prepared.frame, intake.name, prepared.keys))

    def _commit(self, intake: Intake, prepared: Prepared) -> None:
        """The prepared rows into the buffer, with the running class counts and a file's
        identity (recorded even for a file without rows)."""
        file = not isinstance(intake, StreamIntake)
        if prepared.rows or file:
            y = self.config.schema.label_vector(prepared.frame)
            self.buffer.add(prepared.rows, source=intake.name if file else None,
                            counts=self._count_classes(y), keys=prepared.keys)

    def _score(self, report: StepReport, frame: pd.DataFrame, source: str,
               keys: list[tuple[str, int]] | None) -> None:
        """Predictions for the rows, to every sink (each failing alone, as the part
        "scoring: sink NAME"); the rows in alert are added to `report.alerts`."""
        model = self.models.active()
        if model is None or frame.empty:
            return
        policy = self.models.alert or self.config.alerts.policy
        predictions = []
        for row, p in enumerate(model.predict_frame(frame)):
            stream, at = keys[row] if keys is not None else (FILE_STREAM, None)
            alert = self.alerts.update(stream, float(p), policy)
            predictions.append(Prediction(self.site, source, row, self.models.version,
                                          round(float(p), 6), alert,
                                          stream if keys is not None else None, at))
        report.alerts += sum(p.alert for p in predictions)
        for sink in self.sinks:
            self._part(report, f"scoring: sink {type(sink).__name__}",
                       partial(sink.write, predictions))

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
        except Exception as exc:  # whatever the reason: refused once, not tried every cycle
            self.buffer.set("refused", str(sequence))
            report.refused = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, HedgeError):
                log.warning("%s: deployment %d refused, the active model stays: %s",
                            self.site, sequence, exc)
            else:
                report.failures.append(f"deployments: deployment {sequence}: {report.refused}")
                log.exception("%s: deployment %d could not be installed and is refused; the "
                              "active model stays", self.site, sequence)
            return
        log.info("%s: model version %d active", self.site, report.installed)

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
                self._part(report, "ingest", partial(self._ingest, report))
                if report.buffer_full or report.failures or report.problem:
                    stop.wait(interval)  # the same rows would be offered at once again
        finally:
            stop.set()
            uploads.join()

    def _upload_loop(self, stop: threading.Event, interval: float) -> None:
        """Upload and look for deployments every `interval` until `stop`; a cycle's failures
        are logged (`_part`) and the next cycle comes all the same."""
        while not stop.is_set():
            self._cloud(StepReport())
            stop.wait(interval)


def _refuse(intake: Intake, refused: dict[int, str]) -> None:
    """Stream rows `prepare` refused (by position in the intake) to the rejected log. Only
    once the others are committed (or refused too): rows offered again because the buffer was
    full must meet the same rows, in the same windows, as the first time."""
    if isinstance(intake, StreamIntake):
        intake.reject_rows(refused)
