"""The encrypted-learning commands at the top level of `hedge`: encrypt, train, decrypt-model,
predict (the plan, keys and schema groups have their own modules)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from hedge.audit import AuditLog
from hedge.ckks import CkksPool, EncryptedVector, PublicBundle
from hedge.ckks.ray_pool import RayPool
from hedge.cli._common import Out, console, passphrase, progress, read_csv, refuse_secret_files
from hedge.data import Schema
from hedge.errors import KeyMismatchError, ParameterError
from hedge.jobs.train import assisted_refresh
from hedge.jobs.train import train as run_training
from hedge.ml import (
    EncryptedDataset,
    EncryptedLinearModel,
    EncryptedLogisticRegression,
    EncryptedRidge,
    LinearModel,
    TrainingPlan,
)
from hedge.ml.plan import check_features, check_mode
from hedge.owner.releases import releasing

#: From this many ciphertext blocks on, worker processes pay for their start-up.
_POOL_BLOCKS = 16

def encrypt(
    data: Annotated[Path, typer.Argument(help="CSV file of the site's rows.")],
    schema: Annotated[Path, typer.Option(help="The consortium's schema.")],
    bundle: Annotated[Path, typer.Option(help="The consortium's public bundle.")],
    plan: Annotated[Path, typer.Option(help="The training plan.")],
    out: Out,
    class_weight: Annotated[str | None, typer.Option(
        help="'balanced' to weight rare classes up (every site must choose the same).")] = None,
    l2: Annotated[float, typer.Option(help="L2 penalty on the coefficients (logistic; every "
                                           "site must choose the same).")] = 0.0,
) -> None:
    """Encrypt a site's rows for training (only the public bundle is needed)."""
    if not (math.isfinite(l2) and l2 >= 0):
        raise ParameterError(f"--l2 must be a finite number, zero or more (0: no penalty; "
                             f"every site must choose the same), not {l2}")
    refuse_secret_files(bundle)
    s, p, b = Schema.load(schema), TrainingPlan.load(plan), PublicBundle.load(bundle)
    check_features(p.features, len(s.columns), "the schema has")
    if b.params.name != p.preset:
        raise KeyMismatchError(f"the bundle is for preset {b.params.name!r}, the plan for "
                               f"{p.preset!r}")
    frame = read_csv(data)
    if len(frame) > p.max_rows:
        raise ParameterError(f"{len(frame)} rows exceed the plan's {p.max_rows}")
    with console.status(f"encrypting {len(frame)} rows…"):
        dataset = EncryptedDataset.from_frame(frame, s, b, class_weight=class_weight, l2=l2)
    dataset.save(out)
    console.print(f"encrypted {dataset.rows} rows in {len(dataset.doubled)} blocks -> {out} "
                  f"({out.stat().st_size / 1e6:.1f} MB)")


def train(
    datasets: Annotated[list[Path], typer.Argument(help="Encrypted datasets (.hed) of the sites.")],
    bundle: Annotated[Path, typer.Option(help="The consortium's public bundle.")],
    out: Out,
    plan: Annotated[Path | None, typer.Option(help="The training plan (iterations).")] = None,
    mode: Annotated[str, typer.Option(help="non-interactive or assisted.")] = "non-interactive",
    key_service: Annotated[str | None, typer.Option(help="Key service URL (assisted).")] = None,
    job: Annotated[str | None, typer.Option(help="Job id registered at the key service.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes for the per-block work (default: one per core when the data "
             "has at least 16 blocks; 1: in this process).")] = None,
    ray: Annotated[str | None, typer.Option(
        help="Run the per-block work on Ray: a cluster address, or 'local' to start one "
             "(needs hedge's 'ray' extra).")] = None,
) -> None:
    """Train on encrypted data in the cloud. Takes no secret key material and refuses any."""
    refuse_secret_files(bundle, *datasets)
    b = PublicBundle.load(bundle)
    data = EncryptedDataset.concat([EncryptedDataset.load(path, b) for path in datasets])
    if plan is not None:
        p = TrainingPlan.load(plan)
        if p.preset != b.params.name:
            raise KeyMismatchError(f"the plan is for preset {p.preset!r}, the bundle for "
                                   f"{b.params.name!r}")
        check_features(p.features, data.features, "the datasets have")
        model_kind, iterations = p.kind, p.iterations
    else:
        model_kind = "ridge" if data.task == "regression" else "logistic"
        iterations = (EncryptedRidge() if model_kind == "ridge"
                      else EncryptedLogisticRegression()).iterations
    with ExitStack() as stack:
        refresh = None
        if check_mode(mode) == "assisted":
            if model_kind == "ridge":
                raise ParameterError("ridge trains without refresh; drop --mode assisted")
            refresh = _assisted_refresh(stack, key_service, job, data)
        pool: CkksPool | RayPool | None = None
        if model_kind == "logistic" and ray is not None:
            pool = stack.enter_context(RayPool(b, address=None if ray == "local" else ray,
                                               workers=workers))
        elif model_kind == "logistic" and ((workers or 0) > 1 or (
                workers is None and len(data.doubled) >= _POOL_BLOCKS)):
            pool = stack.enter_context(CkksPool(b, workers, start_method="fork"))  # inherits b
        bar = stack.enter_context(progress())
        task = bar.add_task(f"training on {data.rows} rows", total=iterations)
        model = run_training(data, model_kind, iterations, refresh=refresh, pool=pool,
                             progress=lambda done: bar.update(task, completed=done))
    model.save(out)
    console.print(f"encrypted model ({len(model.columns)} weights) -> {out}")


def _assisted_refresh(stack: ExitStack, url: str | None, job: str | None,
                      data: EncryptedDataset) -> Callable[[EncryptedVector], EncryptedVector]:
    if not url or not job:
        raise ParameterError("--mode assisted needs --key-service URL and --job ID")
    token = os.environ.get("HEDGE_KEY_SERVICE_TOKEN", "")
    # the HTTP stack loads only for assisted training
    from hedge.wire.keyservice_client import HttpRefreshClient  # noqa: PLC0415

    return assisted_refresh(stack.enter_context(HttpRefreshClient(url, token)), job, data)


def decrypt_model(
    model: Annotated[Path, typer.Argument(help="The encrypted model (.hem).")],
    keys: Annotated[Path, typer.Option(help="The owner's keystore.")],
    out: Out,
) -> None:
    """Owner: release the trained model (flooded and rounded) as a JSON model file; audited in
    audit.jsonl beside the keystore."""
    with (AuditLog(keys.parent / "audit.jsonl") as log,
          releasing(keys, passphrase(), log, model.name, "release-model") as releaser):
        encrypted = EncryptedLinearModel.load(model, releaser.public())
        plain = encrypted.decrypt(releaser)
        releaser.record("release-model", {"columns": len(plain.columns), "kind": plain.kind})
    plain.save(out)
    console.print(f"{plain.kind} model with {plain.coef.size} coefficients -> {out}")


def predict(
    model: Annotated[Path, typer.Argument(help="A decrypted model (.json).")],
    data: Annotated[Path, typer.Argument(help="CSV rows to score.")],
    out: Out,
) -> None:
    """Score rows locally with a decrypted model: one probability (logistic) or value (ridge)
    per input row."""
    if out.resolve() in (data.resolve(), model.resolve()):
        raise ParameterError(f"--out {out} would overwrite an input; choose another file")
    m = LinearModel.load(model)
    values = m.predict_frame(read_csv(data))
    column = "probability" if m.kind == "logistic" else "prediction"
    pd.DataFrame({column: np.round(values, 6)}).to_csv(out, index=False)
    console.print(f"{len(values)} predictions -> {out}")


