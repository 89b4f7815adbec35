"""The owner's working directory and what the owner does with it: create the consortium at the
cloud, enrol sites, start training, release and deploy models.

Layout of the directory (every secret file mode 0600):

    keys.hks        CKKS secret key (passphrase-encrypted keystore)
    public.bundle   the consortium's public bundle (also at the cloud)
    signing.pem     Ed25519 signing key (passphrase-encrypted)
    owner.json      cloud URL, consortium id, fingerprint, deployments made (changed
                    under an exclusive lock on .owner.lock)
    owner.token     the owner's API token for the cloud
    sites/NAME.json the enrolment file of site NAME: its token, the owner's verify key, its
                    package key. Hand it to the site out of band; the cloud never sees it.
    audit.jsonl     hash-chained log of every release decryption
    models/vN.json  every deployed model version (for rollbacks)
    tls/            optional: the CA for mutual TLS and the certificates it issued
                    (`hedge.owner.tls`); when present, every call to the cloud uses it
    keyservice*.token, keyservice-audit.jsonl
                    the key service for owner-assisted training (`hedge owner key-service`):
                    its service-wide refresh token (the cloud gets one token per job
                    instead), the owner's job-registration token, its log
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from hedge.audit import AuditLog
from hedge.ckks import KeySet, PublicBundle
from hedge.errors import (
    CloudUnavailableError,
    HedgeError,
    ParameterError,
    PolicyError,
    SchemaError,
)
from hedge.files import private_dir, read_json, write_atomic, write_json
from hedge.jobs import EvaluateSpec, JobSpec, KeyServiceRef, PrepareSpec, TrainSpec
from hedge.ml import EncryptedLinearModel, LinearModel, TrainingPlan
from hedge.ml.evaluation import EncryptedEvaluation, EvaluationReport
from hedge.ml.pooled_statistics import PooledStatistics
from hedge.owner.plausibility import check_evaluation, check_model, job_record
from hedge.owner.releases import Releaser, releasing
from hedge.owner.statistics_release import DEFAULT_MIN_ROWS, ClassStatistics, release_statistics
from hedge.owner.tls import has_tls, owner_context, site_credential
from hedge.wire.cloud_client import CloudClient
from hedge.wire.keyservice_client import HttpRefreshClient
from hedge.wire.package import AlertPolicy, build_package, new_package_key, package_key
from hedge.wire.protocol import MAX_JOB_ATTEMPTS
from hedge.wire.signing import SigningKey

__all__ = ["OwnerWorkspace"]

log = logging.getLogger(__name__)


def _read_state(root: Path) -> dict[str, Any]:
    state = read_json(root / "owner.json", "hedge owner state")
    if state.get("version") != 1:
        raise SchemaError(f"{root / 'owner.json'} is not a hedge owner state")
    return state


def _cloud_client(root: Path, url: str, token: str) -> CloudClient:
    """A client of the cloud at `url`, over mutual TLS with the owner's certificate if `root`
    holds one."""
    return CloudClient(url, token, verify=owner_context(root) or True)


def _cancel(service: HttpRefreshClient, job: str, refused: HedgeError) -> None:
    """Cancel the key-service job of a refused cloud job; if that fails too, the refusal is
    still what the caller sees, with a note on the job left open."""
    try:
        service.cancel_job(job)
    except HedgeError as exc:
        refused.add_note(f"the key-service job {job} could not be cancelled ({exc}); its "
                         "refresh budget stays until it is")


@dataclass
class OwnerWorkspace:
    """The owner directory `root`. Its state (owner.json) is read afresh on every use:
    other processes change it (the key service records its URL, another terminal enrols a
    site or deploys), and a long-lived workspace must not act on what it read at `open`."""

    root: Path

    @property
    def state(self) -> dict[str, Any]:
        """owner.json as it is now (changes go through `_editing`)."""
        return _read_state(self.root)

    @cached_property
    def identity(self) -> dict[str, Any]:
        """What `create` fixed for good (cloud, consortium, name, fingerprint, owner_key),
        read once."""
        state = self.state
        return {k: state[k] for k in ("cloud", "consortium", "name", "fingerprint",
                                      "owner_key")}

    # -- creation --------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | os.PathLike[str], plan: TrainingPlan, *, cloud: str,
               admin_token: str, name: str, passphrase: str) -> OwnerWorkspace:
        """Keys from `plan`, a signing key, and the consortium registered at the cloud (over
        mutual TLS if `init_tls` made a CA in `root` before)."""
        path = Path(root)
        if (path / "owner.json").exists() or (path / "keys.hks").exists():
            raise ParameterError(f"{path} already holds an owner; choose another directory "
                                 "(replacing keys would make all data unreadable)")
        private_dir(path)  # keys, tokens, enrolment files, audit log: the owner's alone
        keys = KeySet.generate(plan.preset, rotations=plan.rotation_steps)
        keys.save(path / "keys.hks", passphrase=passphrase)
        bundle = keys.public()
        bundle.save(path / "public.bundle")
        signing = SigningKey()
        signing.save(path / "signing.pem", passphrase=passphrase)
        plan.save(path / "plan.json")
        with _cloud_client(path, cloud, admin_token) as admin:
            made = admin.create_consortium(name, str(signing.verify_key), bundle.to_bytes())
        write_atomic(path / "owner.token", made["token"].encode())
        state = {"version": 1, "cloud": cloud, "consortium": made["id"], "name": name,
                 "fingerprint": keys.fingerprint, "owner_key": str(signing.verify_key),
                 "sites": [], "deployments": {}, "next_version": 1}
        write_json(path / "owner.json", state)
        return cls(path)

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> OwnerWorkspace:
        _read_state(Path(root))  # an owner directory, or a clear error now
        return cls(Path(root))

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        """The owner state read afresh under an exclusive lock and written back when the block
        ends without an error: other processes change it too (the key service records its
        URL, a second terminal enrols a site), and none may write over another's change."""
        with (self.root / ".owner.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("%s: another owner command is changing owner.json; waiting for it",
                            self.root)
                fcntl.flock(lock, fcntl.LOCK_EX)
            state = _read_state(self.root)
            yield state
            write_json(self.root / "owner.json", state)

    def client(self) -> CloudClient:
        """The owner's cloud client (mutual TLS with the owner's certificate, if any)."""
        token = (self.root / "owner.token").read_text().strip()
        return _cloud_client(self.root, self.identity["cloud"], token)

    @property
    def consortium(self) -> int:
        return int(self.identity["consortium"])

    def uploads(self) -> list[dict[str, Any]]:
        """What the sites uploaded (metadata only: id, site, rows, size, ...)."""
        with self.client() as client:
            return client.uploads(self.consortium)

    # -- sites -----------------------------------------------------------------------------

    def add_site(self, name: str, passphrase: str | None = None) -> Path:
        """Register a site; returns its enrolment file (token, owner key, package key and,
        with mutual TLS, a client certificate: `passphrase` opens the CA key)."""
        if name in self.state["sites"]:
            raise PolicyError(f"site {name!r} is enrolled already; its file is "
                              f"{self.root / 'sites' / (name + '.json')}")
        tls = None
        if has_tls(self.root):  # first, so that a wrong passphrase leaves nothing half done
            if passphrase is None:
                raise ParameterError("this owner uses mutual TLS: the site's certificate needs "
                                     "the CA key's passphrase")
            tls = site_credential(self.root, name, passphrase=passphrase)
        with self.client() as client:
            made = client.add_site(self.consortium, name)
        fixed = self.identity
        enrolment = {"version": 1, "cloud": fixed["cloud"], "consortium": self.consortium,
                     "site": name, "token": made["token"], "owner_key": fixed["owner_key"],
                     "fingerprint": fixed["fingerprint"],
                     "package_key": base64.b64encode(new_package_key()).decode()}
        if tls is not None:
            enrolment["tls"] = tls
        (self.root / "sites").mkdir(exist_ok=True)
        target = self.root / "sites" / f"{name}.json"
        write_json(target, enrolment)
        with self._editing() as state:  # a second enrolment of the name: the cloud's 409
            state["sites"].append(name)
        return target

    def revoke_site(self, name: str) -> None:
        """Revoke the site's token at the cloud; it gets no further deployments."""
        sites = self.state["sites"]
        if name not in sites:
            raise ParameterError(f"no site {name!r}; enrolled: {sites}")
        with self.client() as client:
            client.revoke_site(self.consortium, name)
        with self._editing() as state:
            revoked = state.setdefault("revoked", [])
            if name not in revoked:
                revoked.append(name)

    def _enrolment(self, name: str) -> dict[str, Any]:
        return read_json(self.root / "sites" / f"{name}.json", "site enrolment")

    # -- training and release ----------------------------------------------------------------

    def key_service_tokens(self) -> tuple[str, str]:
        """(service-wide refresh token, registration token for the owner) of the owner's key
        service, created on first use (files 0600); the cloud never gets either: it gets one
        token per job when the job is registered."""
        tokens = []
        for name in ("keyservice.token", "keyservice-admin.token"):
            path = self.root / name
            if not path.exists():
                write_atomic(path, secrets.token_urlsafe(32).encode())
            tokens.append(path.read_text().strip())
        return tokens[0], tokens[1]

    def set_key_service(self, url: str) -> None:
        """Record where the cloud reaches the owner's key service."""
        with self._editing() as state:
            state["key_service"] = url

    def train(self, model: str = "logistic", iterations: int | None = None,
              uploads: list[int] | None = None, *, assisted: bool | None = None) -> int:
        """Queue training on the given uploads (default: all there are now); the job's id.
        `assisted` (default: the plan's mode) registers a job at the owner's key service, with
        a refresh budget of the iterations plus the worker restarts a job may take, and hands
        the cloud its reference and the job's own key-service token (which reaches that job
        only); if the cloud refuses the job, the key service's job is cancelled, and once the
        job has ended `wait` or `release` cancels what is left of its budget. The job carries
        the plan's `features`: uploads encrypted with a schema of another number of model
        columns are refused (`SchemaError`, both counts named) before the job is queued."""
        plan = TrainingPlan.load(self.root / "plan.json")
        iterations = iterations or plan.iterations
        named, rows = self._uploads_of(uploads)
        spec = TrainSpec.build(model=model, iterations=iterations, uploads=named,
                               features=plan.features)
        if assisted is None:
            assisted = plan.mode == "assisted"
        record = {"kind": "train", "model": model, "iterations": iterations,
                  "assisted": assisted, "uploads": named, "rows": rows}
        if not assisted:
            return self._submit(spec, record)
        url = self.state.get("key_service")
        if not url:
            raise ParameterError("assisted training needs the owner's key service: start "
                                 f"it with `hedge owner key-service --dir {self.root}`")
        _, admin = self.key_service_tokens()
        job = f"c{self.consortium}-{secrets.token_hex(8)}"
        with HttpRefreshClient(url, admin) as service:
            token = service.register_job(job, plan.columns, plan.columns,
                                         iterations + MAX_JOB_ATTEMPTS)
            spec = spec.model_copy(update={"key_service": KeyServiceRef(url=url, job=job,
                                                                        token=token)})
            try:
                return self._submit(spec, {**record, "key_service_job": job})
            except HedgeError as refused:
                if isinstance(refused, CloudUnavailableError) and refused.sent:
                    raise  # the cloud may have taken the job: its budget stays
                _cancel(service, job, refused)  # no job: no refresh budget
                raise

    def evaluate(self, model: LinearModel, uploads: list[int] | None = None,
                 margin_bound: float | None = None) -> int:
        """Queue an encrypted evaluation of a released logistic model on the given uploads
        (e.g. held out from training; default: all there are now): the model is encrypted
        afresh with the public bundle, so the cloud scores it without learning it. The job's
        id."""
        bundle = PublicBundle.load(self.root / "public.bundle",
                                   expected_fingerprint=self.identity["fingerprint"])
        encrypted = EncryptedLinearModel.encrypt(model, bundle, margin_bound=margin_bound)
        named, rows = self._uploads_of(uploads)
        with self.client() as client:
            blob = client.store_model(self.consortium, encrypted.to_bytes())
        return self._submit(EvaluateSpec.build(model_blob=blob, uploads=named),
                            {"kind": "evaluate", "uploads": named, "rows": rows,
                             "margin_bound": 1.0 / encrypted.tiled_scale})

    def prepare(self, uploads: list[int] | None = None) -> int:
        """Queue a preparation: the cloud adds the sites' encrypted per-class statistics of the
        given uploads (default: all there are now). The job's id."""
        named, rows = self._uploads_of(uploads)
        return self._submit(PrepareSpec.build(uploads=named),
                            {"kind": "prepare", "uploads": named, "rows": rows})

    def _uploads_of(self, wanted: list[int] | None) -> tuple[list[int] | None, int]:
        """The uploads a job is to name, fixed now ("all" becomes every upload there is),
        and the rows they hold, as the cloud lists them (unknown ids: left for the cloud to
        refuse)."""
        known = {int(u["id"]): int(u["rows"]) for u in self.uploads()}
        named = sorted(known) if wanted is None else sorted(set(wanted))  # as the cloud counts
        return (named or None), sum(known.get(i, 0) for i in named)

    def _submit(self, spec: JobSpec, record: dict[str, Any]) -> int:
        """Queue `spec` at the cloud and keep `record` of it in owner.json (what releases
        check a result against)."""
        with self.client() as client:
            job = int(client.submit_job(self.consortium, spec.model_dump(
                mode="json", exclude_none=True))["id"])
        with self._editing() as state:
            state.setdefault("jobs", {})[str(job)] = record
        return job

    def wait(self, job_id: int, poll: float = 0.5) -> dict[str, Any]:
        """Wait until a job ends; its final state, or `ParameterError` if it failed. An
        assisted job's key-service budget is cancelled once it has ended (`_close`)."""
        cid = self.consortium
        with self.client() as client:
            while (state := client.job(cid, job_id))["status"] in ("queued", "running"):
                time.sleep(poll)
        self._close(job_id)
        if state["status"] != "done":
            raise ParameterError(f"job {job_id} {state['status']}: {state['message']}")
        return state

    def _close(self, job_id: int) -> None:
        """Cancel the rest of an ended assisted job's refresh budget at the key service, so
        that its token (which the cloud held) reaches nothing any more; a key service out of
        reach is told again at the next `wait` or `release` of the job."""
        record = self.state.get("jobs", {}).get(str(job_id), {})
        job, url = record.get("key_service_job"), self.state.get("key_service")
        if not job or record.get("key_service_closed") or not url:
            return
        try:
            with HttpRefreshClient(url, self.key_service_tokens()[1]) as service:
                service.cancel_job(job)
        except HedgeError as exc:
            log.warning("%s: the key-service job %s of job %d could not be cancelled (%s); "
                        "its refresh budget stays until it is", self.root, job, job_id, exc)
            return
        with self._editing() as state:
            state["jobs"][str(job_id)]["key_service_closed"] = True

    def release(self, job_id: int, passphrase: str) -> LinearModel:
        """Fetch a finished training job's encrypted model, check that it is the job's result
        (`hedge.owner.plausibility`: kind, columns, depth; after decryption, plausible
        weights) and release-decrypt it; audited, a refusal too. The encrypted model stays in
        the directory as job-N.hem."""
        record = job_record(self.state.get("jobs", {}), job_id, "train")
        plan = TrainingPlan.load(self.root / "plan.json")
        with self._releasing(job_id, passphrase, "release-model") as (releaser, raw):
            write_atomic(self.root / f"job-{job_id}.hem", raw)
            encrypted = EncryptedLinearModel.from_bytes(raw, releaser.public())
            check_model(encrypted, record, plan, releaser.depth)
            model = encrypted.decrypt(releaser)
            try:
                model.check_plausible()
            except SchemaError as exc:
                raise PolicyError(f"{exc}; not released") from None
            releaser.record("release-model", {"columns": len(model.columns),
                                              "kind": model.kind})
        return model

    def release_evaluation(self, job_id: int, passphrase: str) -> EvaluationReport:
        """Fetch a finished evaluation, check that it is the job's (its rows, the margin
        bound the model was encrypted with), and release-decrypt its aggregates (audited, a
        refusal too)."""
        record = job_record(self.state.get("jobs", {}), job_id, "evaluate")
        with self._releasing(job_id, passphrase, "release-evaluation") as (releaser, raw):
            evaluation = EncryptedEvaluation.from_bytes(raw, releaser.public())
            check_evaluation(evaluation, record)
            report = evaluation.decrypt(releaser)
            releaser.record("release-evaluation", {"rows": report.rows})
        return report

    def release_statistics(self, job_id: int, passphrase: str,
                           min_rows: int = DEFAULT_MIN_ROWS) -> ClassStatistics:
        """Fetch a finished preparation's pooled statistics and release them (audited;
        refused when a class has fewer than `min_rows` rows, or when they do not count the
        rows of the job's uploads)."""
        record = job_record(self.state.get("jobs", {}), job_id, "prepare")
        with self._releasing(job_id, passphrase, "release-statistics",
                             refusals=False) as (releaser, raw):  # they audit their own
            pooled = PooledStatistics.from_bytes(raw, releaser.public())
            return release_statistics(releaser, pooled.vector, pooled.columns, releaser.log,
                                      min_rows=min_rows, job=f"job-{job_id}",
                                      rows=int(record["rows"]))

    @contextmanager
    def _releasing(self, job_id: int, passphrase: str, action: str, *,
                   refusals: bool = True) -> Iterator[tuple[Releaser, bytes]]:
        """A finished job's result and the owner's `Releaser` for it (`releasing`: one release
        at a time, each counted in the keystore and audited before it decrypts; with
        `refusals`, whatever the block raises is audited as a refusal of `action`). The job has
        a result, so it has ended: an assisted job's key-service budget is cancelled
        (`_close`)."""
        with self.client() as client:
            raw = client.job_result(self.consortium, job_id)
        self._close(job_id)
        log = AuditLog(self.root / "audit.jsonl")
        try:
            with releasing(self.root / "keys.hks", passphrase, log, f"job-{job_id}", action,
                           refusals=refusals) as releaser:
                yield releaser, raw
        finally:
            log.close()

    # -- deployment --------------------------------------------------------------------------

    def deploy(self, model: LinearModel, passphrase: str, sites: list[str] | None = None,
               *, rollback_to: int | None = None, alert: AlertPolicy | None = None) -> int:
        """Sign and encrypt `model` for every (given) site and publish it through the cloud.
        Returns its version. With `rollback_to`, the package is a signed rollback to that
        (older) version number, replacing each site's current one, with the alert policy that
        version was deployed with. `alert`: the threshold and hysteresis the edges alert with
        (None: each edge's own setting)."""
        signing = SigningKey.load(self.root / "signing.pem", passphrase=passphrase)
        now = self.state
        revoked = now.get("revoked", [])
        targets = sites or [s for s in now["sites"] if s not in revoked]
        if any(site in revoked for site in targets):
            raise PolicyError(f"sites {[s for s in targets if s in revoked]} are revoked")
        if rollback_to is None:  # the number is spent even if a publication fails below
            with self._editing() as state:
                version = int(state["next_version"])
                (self.root / "models").mkdir(exist_ok=True)
                model.save(self.root / "models" / f"v{version}.json")
                state["next_version"] = version + 1
                if alert is not None:
                    state.setdefault("alerts", {})[str(version)] = alert.to_dict()
        else:
            version = rollback_to
            alert = AlertPolicy.of(now.get("alerts", {}).get(str(version)))
        with self.client() as client:
            for site in targets:
                with self._editing() as state:  # one publication per site at a time
                    if site in state.get("revoked", []):
                        raise PolicyError(f"site {site!r} was revoked meanwhile")
                    current = state["deployments"].get(site, {"version": None, "sequence": 0})
                    replaces = current["version"] if rollback_to is not None else None
                    if rollback_to is not None and (replaces is None or replaces <= version):
                        raise PolicyError(f"site {site!r} runs version {replaces}; a rollback "
                                          f"to {version} must go back to an older one")
                    key = package_key(str(self._enrolment(site)["package_key"]))
                    sequence = int(current["sequence"]) + 1
                    package = build_package(model, site=site, sequence=sequence,
                                            version=version, signing_key=signing,
                                            package_key=key, replaces=replaces, alert=alert)
                    client.publish(self.consortium, site, sequence, package)
                    state["deployments"][site] = {"version": version, "sequence": sequence}
        return version

    def model(self, version: int) -> LinearModel:
        """A model deployed earlier (kept for rollbacks)."""
        path = self.root / "models" / f"v{version}.json"
        if not path.exists():
            known = sorted(int(p.stem[1:]) for p in (self.root / "models").glob("v*.json"))
            raise ParameterError(f"version {version} was never deployed; deployed: {known}")
        return LinearModel.load(path)
