"""The edge's uploads: the buffer's batches encrypted with the consortium's public bundle and
sent to the cloud under their idempotency keys.

When: an open batch (started before a crash or an outage) goes at once; a new one only once it
is due (`Buffer.start_batch`: `[upload] batch_rows` rows pending, or the oldest pending row
`max_wait_seconds` old, or the buffer full), unless the caller flushes. With balanced class
weights nothing goes before rows of both classes have arrived.

What: the bundle is fetched once and pinned to the enrolment's fingerprint (a substituted one
encrypts nothing). A batch the cloud refuses for good (malformed, another key set, too large,
secret material), or whose rows cannot be encrypted at all (they no longer pass the schema:
it, or hedge's checks, changed since they were buffered), is set aside with its reason and its
rows kept (`Buffer.quarantined`), and the next batches go on; anything else (an outage, a
revoked token, a bundle that cannot be had) propagates and leaves the batch open for the next
attempt, under the same key.
"""

from __future__ import annotations

import logging

import pandas as pd

from hedge.ckks import PublicBundle
from hedge.edge.buffer import Batch, Buffer
from hedge.edge.config import EdgeConfig
from hedge.edge.report import StepReport
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    SchemaError,
    SecretMaterialError,
    TooLargeError,
)
from hedge.files import write_atomic
from hedge.ml import EncryptedDataset
from hedge.wire.cloud_client import CloudClient

__all__ = ["Uploader"]

log = logging.getLogger("hedge.edge")

#: What the cloud answers about a batch itself (malformed, not a dataset, an invalid key,
#: another key set, too large, secret material); anything else (an outage, a revoked token)
#: leaves the batch open for later.
_BATCH_REFUSED = (CorruptDataError, SchemaError, ParameterError, KeyMismatchError,
                  SecretMaterialError, TooLargeError)


class Uploader:
    def __init__(self, config: EdgeConfig, buffer: Buffer, client: CloudClient) -> None:
        self.config, self.buffer, self.client = config, buffer, client
        self.site, self.consortium = config.enrolment.site, config.enrolment.consortium
        self._bundle: PublicBundle | None = None

    def bundle(self) -> PublicBundle:
        """The consortium's public bundle, fetched once and pinned to the enrolment's
        fingerprint."""
        if self._bundle is None:
            path = self.config.data_dir / "public.bundle"
            expected = self.config.enrolment.fingerprint
            if path.exists():
                self._bundle = PublicBundle.load(path, expected_fingerprint=expected)
            else:
                raw = self.client.bundle(self.consortium)
                self._bundle = PublicBundle.from_bytes(raw, expected_fingerprint=expected)
                write_atomic(path, raw)
        return self._bundle

    def upload(self, report: StepReport, counts: tuple[int, int], flush: bool = False) -> None:
        """Encrypt and upload the open batch, then every batch that is due (`flush`: until
        nothing is pending), weighted by the site's running class `counts`; what went up is
        added to `report` batch by batch."""
        if self.config.class_weight == "balanced" and min(counts) == 0:
            log.info("%s: waiting for rows of both classes before uploading with balanced "
                     "weights (seen %s)", self.site, counts)
            return
        max_wait = 0.0 if flush else self.config.max_wait_seconds
        while (batch := self.buffer.start_batch(self.config.batch_rows, max_wait)) is not None:
            bundle = self.bundle()  # not to be had: the batch stays open for the next attempt
            try:
                raw = EncryptedDataset.from_frame(pd.DataFrame(batch.rows), self.config.schema,
                                                  bundle, class_weight=self.config.class_weight,
                                                  l2=self.config.l2,
                                                  class_counts=counts).to_bytes()
            except Exception as exc:  # these rows, for good: set aside, the others go on
                self._set_aside(batch, report, exc, "cannot be encrypted")
                if not isinstance(exc, HedgeError):
                    log.error("%s: the traceback of batch %s", self.site, batch.key,
                              exc_info=exc)
                continue
            try:
                self.client.upload(self.consortium, batch.key, raw)
            except _BATCH_REFUSED as exc:  # this batch, for good: set aside, the others go on
                self._set_aside(batch, report, exc, "refused")
                continue
            self.buffer.finish_batch(batch)
            report.uploaded_rows += len(batch.rows)
            report.uploaded_bytes += len(raw)

    def _set_aside(self, batch: Batch, report: StepReport, exc: Exception, what: str) -> None:
        """Quarantine `batch` with the reason, rows kept; the report and the log say so."""
        self.buffer.quarantine_batch(batch, f"{type(exc).__name__}: {exc}")
        report.problem = f"batch {batch.key} {what} and set aside: {exc}"
        log.error("%s: %s", self.site, report.problem)
