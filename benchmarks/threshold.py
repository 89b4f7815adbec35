"""Threshold keys beside a single key, for the demo's plan (AI4I 2020, logistic, assisted,
standard preset), with the owner and three plants as key holders, in one run:

* key generation: per holder, the time of each round and the bytes it sends; against
  `KeySet.generate` of a single key set with the same rotation steps;
* bundle size: the single-key bundle, the collective bundle and its compact form
  (target: at most 150 MB for the demo's plan);
* co-decryption of one ciphertext: each holder's share, the combination, end to end; against a
  single-key release decryption;
* engine work under the plan's keys (one product, every plan rotation, a sum over all slots),
  collective against single key (target: within 1.1x);
* precision: the flooding noise per slot, unmasked and masked to a model's values, measured
  against stated, beside the single-key release's;
* the demo's training (AI4I 2020, three sites, balanced class weights), non-interactive and
  assisted: wall time under the collective keys (assisted: refreshed collectively by the four
  holders) against the single key (assisted: refreshed by the owner's key service; target:
  within 1.1x), and the AUC of the released model, co-decrypted by the four holders, against
  the single-key release's (target: within 0.005) and plaintext scikit-learn.

    .venv/bin/python benchmarks/threshold.py
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from hedge.audit import AuditLog
from hedge.ckks import EncryptedVector, KeySet, PublicBundle, preset
from hedge.ckks.hazmat import decrypt_exact
from hedge.ckks.multiparty import (
    CommonReference,
    DecryptionShare,
    Flooding,
    KeyShare,
    LocalConsortium,
    RelinRound,
    collective_bundle,
    collective_galois_keys,
    collective_public_key,
    collective_relin_keys,
    combine,
    decryption_share,
    masked_for_release,
    sum_round1,
)
from hedge.ckks.multiparty.compact import compact_bytes, from_compact_bytes
from hedge.data import Schema, load_ai4i
from hedge.data.sites import AI4I_LEAKS
from hedge.demo import LABEL
from hedge.errors import DatasetNotFoundError
from hedge.ml import EncryptedDataset, EncryptedLogisticRegression
from hedge.ml.model import LinearModel
from hedge.ml.plan import plan_training
from hedge.ml.refresh import collective_refresh_tiled, refresh_tiled
from hedge.owner.keyservice import InProcessRefreshClient, KeyService
from machine_info import machine_info

console = Console(width=150)
RESULTS = Path(__file__).parent / "results" / "threshold.json"
T = TypeVar("T")
HOLDERS = ("owner", "plant-1", "plant-2", "plant-3")
BUNDLE_TARGET = 150e6


def demo_data() -> tuple[Schema, Any, Any] | None:
    """The demo's schema of AI4I 2020 and its 70/30 split (None if the datasets are absent)."""
    try:
        frame = load_ai4i().drop(columns=list(AI4I_LEAKS))
    except DatasetNotFoundError:
        return None
    train, test = train_test_split(frame, test_size=0.3, stratify=frame[LABEL], random_state=0)
    return Schema.infer(frame, label=LABEL), train, test


def training(schema: Schema, train: Any, test: Any, single: KeySet,
             consortium: LocalConsortium) -> dict[str, Any]:
    """The demo's training under each key mode, non-interactive and assisted (refreshed by the
    owner's key service, or collectively by the holders), and the released models' AUC."""
    parts = np.array_split(np.random.default_rng(0).permutation(len(train)), 3)
    x_test, y_test = schema.features_matrix(test), schema.label_vector(test)
    plain = LogisticRegression(class_weight="balanced", max_iter=5000).fit(
        schema.features_matrix(train), schema.label_vector(train))
    out: dict[str, Any] = {"rows": len(train), "sklearn_auc": float(
        roc_auc_score(y_test, plain.decision_function(x_test)))}

    def auc(w: np.ndarray, columns: list[str]) -> float:
        model = LinearModel(columns[1:], float(w[0]), np.asarray(w[1:]), schema.to_dict())
        return float(roc_auc_score(y_test, model.decision_function(x_test)))

    with tempfile.TemporaryDirectory() as tmp:
        service = KeyService(single, AuditLog(Path(tmp) / "audit.jsonl"))
        client = InProcessRefreshClient(service)
        for mode in ("non-interactive", "assisted"):
            plan = plan_training("logistic", len(schema.columns), len(train), mode)
            times: dict[str, list[float]] = {"single": [], "threshold": []}
            fitted = {}
            for run in range(2):  # alternating, the fastest of two each
                for keys, bundle in (("single", single.public()),
                                     ("threshold", consortium.bundle)):
                    data = EncryptedDataset.concat([EncryptedDataset.from_frame(
                        train.iloc[i], schema, bundle, class_weight="balanced") for i in parts])
                    refresh = None
                    if mode == "assisted" and keys == "single":
                        job = f"job-{run}"
                        service.register_job(job, len(data.columns), len(data.columns),
                                             plan.iterations)
                        refresh = assisted_refresh_of(client, job, data)
                    elif mode == "assisted":
                        refresh = collective_refresh_of(consortium, data)
                    start = time.perf_counter()
                    fitted[keys] = EncryptedLogisticRegression(iterations=plan.iterations).fit(
                        data, refresh=refresh)
                    times[keys].append(time.perf_counter() - start)
            weights = fitted["threshold"].weights
            masked = weights.level > 0
            flooding = masked_for_release(weights)[1] if masked else Flooding()
            columns = fitted["threshold"].columns
            exact = consortium.decrypt(weights, flooding=1.0)
            out[mode] = {
                "iterations": plan.iterations, "train_s": {k: min(t) for k, t in times.items()},
                "release_masked": masked,
                "release_noise": flooding.slot_noise(consortium.params, len(consortium.shares)),
                "weights_error_vs_single_exact": float(np.abs(
                    exact - decrypt_exact(single, fitted["single"].weights)).max()),
                "auc": {"single": float(roc_auc_score(y_test, fitted["single"].decrypt(
                            single).decision_function(x_test))),
                        "threshold": auc(consortium.release(weights), columns),
                        "threshold_exact": auc(exact, columns)}}
    return out


def assisted_refresh_of(client: InProcessRefreshClient, job: str,
                        data: EncryptedDataset) -> Callable[[EncryptedVector], EncryptedVector]:
    return lambda w: refresh_tiled(client, job, w, data.layout)


def collective_refresh_of(consortium: LocalConsortium, data: EncryptedDataset
                          ) -> Callable[[EncryptedVector], EncryptedVector]:
    return lambda w: collective_refresh_tiled(consortium, w, data.layout)


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def engine_work(bundle: PublicBundle, steps: list[int],
                x: np.ndarray) -> tuple[EncryptedVector, float]:
    v = bundle.encrypt(x)
    start = time.perf_counter()
    y = v * v
    for s in steps:
        y = y + v.rotate(s)
    total = y.sum()
    return total, time.perf_counter() - start


def main() -> None:
    demo = demo_data()
    features = 8 if demo is None else len(demo[0].columns)
    plan = plan_training("logistic", features, 7000, "assisted")
    params, steps = preset(plan.preset), list(plan.rotation_steps)
    results: dict[str, object] = {"machine": machine_info(), "preset": plan.preset,
                                  "features": features, "rotation_steps": len(steps),
                                  "holders": list(HOLDERS)}

    single, single_keygen = timed(KeySet.generate, params, steps)
    crs = CommonReference.fresh(params)
    shares = {h: KeyShare.generate(params) for h in HOLDERS}
    rounds: dict[str, list[float]] = {"public key": [], "relinearisation 1": [],
                                      "relinearisation 2": [], "Galois keys": []}
    pk_shares: list[np.ndarray] = []
    first: list[tuple[np.ndarray, RelinRound]] = []
    galois: list[dict[int, np.ndarray]] = []
    for share in shares.values():
        pk, t = timed(share.public_key_share, crs)
        pk_shares.append(pk)
        rounds["public key"].append(t)
        r1, t = timed(share.relin_round1, crs)
        first.append(r1)
        rounds["relinearisation 1"].append(t)
        gk, t = timed(share.galois_shares, crs, steps)
        galois.append(gk)
        rounds["Galois keys"].append(t)
    round1 = sum_round1(params, [r for _, r in first])
    second: list[RelinRound] = []
    for share, (u, _) in zip(shares.values(), first, strict=True):
        r2, t = timed(share.relin_round2, u, round1)
        second.append(r2)
        rounds["relinearisation 2"].append(t)
    start = time.perf_counter()
    bundle = collective_bundle(crs, collective_public_key(crs, pk_shares),
                               collective_relin_keys(params, round1, second),
                               collective_galois_keys(crs, galois), steps)
    combine_keys = time.perf_counter() - start
    sent = {"public key": pk_shares[0].nbytes, "relinearisation 1": 2 * first[0][1].h0.nbytes,
            "relinearisation 2": second[0].h0.nbytes,
            "Galois keys": sum(g.nbytes for g in galois[0].values())}

    full = single.public().to_bytes()
    collective_full = bundle.to_bytes()
    compact, t_compact = timed(compact_bytes, bundle)
    _, t_expand = timed(from_compact_bytes, compact)

    x = np.random.default_rng(0).uniform(-1, 1, params.slot_count)
    ct_vector = bundle.encrypt(x)
    ct = ct_vector.ciphertexts[0]
    flooding = Flooding()
    share_times: list[float] = []
    dshares: list[DecryptionShare] = []
    for name, share in shares.items():
        d, t = timed(decryption_share, share, name, ct, flooding)
        dshares.append(d)
        share_times.append(t)
    values, t_combine = timed(combine, params, ct, dshares, list(HOLDERS))
    single_vector = single.public().encrypt(x)
    _, t_release = timed(single.release, single_vector)
    noise = float((values - x).std())
    consortium = LocalConsortium(params, crs, shares, bundle)
    weights = ct_vector.truncated(features + 1)  # a model's values, the other slots in use
    masked, masked_flooding = masked_for_release(weights)
    masked_errors = np.concatenate([consortium.decrypt(masked, flooding=masked_flooding)
                                    - x[: features + 1] for _ in range(100)])

    single_times, collective_times = [], []
    for _ in range(3):  # alternating, the fastest of three each
        _, t = engine_work(single.public(), steps, x)
        single_times.append(t)
        _, t = engine_work(bundle, steps, x)
        collective_times.append(t)
    t_single_work, t_collective_work = min(single_times), min(collective_times)
    results.update({
        "keygen_single_s": single_keygen, "keygen_rounds_s": rounds,
        "keygen_combine_s": combine_keys, "keygen_bytes_sent_per_holder": sent,
        "bundle_bytes": {"single": len(full), "collective": len(collective_full),
                         "compact": len(compact)},
        "compact_write_s": t_compact, "compact_read_s": t_expand,
        "codecrypt_share_s": share_times, "codecrypt_combine_s": t_combine,
        "codecrypt_end_to_end_s": sum(share_times) + t_combine,
        "codecrypt_share_bytes": int(dshares[0].residues.nbytes),
        "single_release_s": t_release,
        "engine_work_single_s": t_single_work, "engine_work_collective_s": t_collective_work,
        "flooding_sigma": flooding.sigma(params, ct.scale()), "slot_noise_measured": noise,
        "slot_noise_stated": flooding.slot_noise(params, len(HOLDERS)),
        "masked_released": masked_flooding.released,
        "masked_slot_noise_measured": float(masked_errors.std()),
        "masked_slot_noise_stated": masked_flooding.slot_noise(params, len(HOLDERS)),
        "single_release_sigma": single.noise_sigma(flooding.error_bound, features + 1),
    })
    if demo is not None:
        console.log("the demo's training under each key mode…")
        results["training"] = training(*demo, single, consortium)

    table = Table(title=f"threshold keys, {len(HOLDERS)} holders, {plan.preset} preset, "
                        f"{len(steps)} rotation keys ({features} features)")
    for col in ("figure", "threshold", "single key / reference"):
        table.add_column(col)
    mb = 1e6
    table.add_row("key generation per holder (s)",
                  " + ".join(f"{k} {np.mean(v):.2f}" for k, v in rounds.items()),
                  f"{single_keygen:.2f} (whole key set, one party)")
    table.add_row("bytes sent per holder (MB)",
                  " + ".join(f"{k} {v / mb:.1f}" for k, v in sent.items()), "none")
    table.add_row("bundle (MB)", f"{len(collective_full) / mb:.1f} full, "
                  f"{len(compact) / mb:.1f} compact (target <= {BUNDLE_TARGET / mb:.0f})",
                  f"{len(full) / mb:.1f}")
    table.add_row("co-decryption of one ciphertext (s)",
                  f"share {np.mean(share_times):.3f} per holder, combine {t_combine:.3f}, "
                  f"end to end {sum(share_times) + t_combine:.3f} (shares in sequence)",
                  f"release {t_release:.3f}")
    table.add_row("engine work: product, plan rotations, sum (s)",
                  f"{t_collective_work:.2f} ({t_collective_work / t_single_work:.2f}x, target "
                  "<= 1.1x)", f"{t_single_work:.2f}")
    table.add_row("flooding noise per slot, all slots",
                  f"{noise:.4f} measured, {flooding.slot_noise(params, len(HOLDERS)):.4f} "
                  f"stated (sigma 2^{math.log2(flooding.sigma(params, ct.scale())):.1f})",
                  f"release sigma {single.noise_sigma(flooding.error_bound, params.slot_count):.4f}"
                  f" for {params.slot_count} values")
    table.add_row(f"flooding noise per value, masked to {features + 1} values",
                  f"{masked_errors.std():.4f} measured, "
                  f"{masked_flooding.slot_noise(params, len(HOLDERS)):.4f} stated",
                  f"release sigma {single.noise_sigma(flooding.error_bound, features + 1):.4f}"
                  f" for {features + 1} values")
    training_rows: dict[str, Any] = results.get("training", {})  # type: ignore[assignment]
    for mode in ("non-interactive", "assisted"):
        if mode not in training_rows:
            continue
        tr = training_rows[mode]
        ts, auc = tr["train_s"], tr["auc"]
        how = "refreshed by the holders" if mode == "assisted" else "no refresh"
        table.add_row(f"demo training, {mode}, {tr['iterations']} iterations (s)",
                      f"{ts['threshold']:.1f} ({ts['threshold'] / ts['single']:.2f}x, target "
                      f"<= 1.1x; {how})", f"{ts['single']:.1f}"
                      + (" (key service)" if mode == "assisted" else ""))
        table.add_row(f"AUC of the released model, {mode}",
                      f"{auc['threshold']:.4f} (co-decrypted, "
                      f"{'masked' if tr['release_masked'] else 'unmasked'}, noise "
                      f"{tr['release_noise']:.4f}; exact {auc['threshold_exact']:.4f}; "
                      f"|difference| {abs(auc['threshold'] - auc['single']):.4f}, target "
                      "<= 0.005)", f"{auc['single']:.4f} (release); scikit-learn "
                      f"{training_rows['sklearn_auc']:.4f}")
    console.print(table)
    RESULTS.write_text(json.dumps(results, indent=2, default=float))
    console.print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
