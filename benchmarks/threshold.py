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
* precision: the coefficient error of that work against the public bound, the flooding sigma
  and the noise it leaves per slot.

The training job's wall time in threshold mode waits for the co-decryption and collective
refresh jobs (not built yet); the engine work above is what a training iteration is made of.

    .venv/bin/python benchmarks/threshold.py
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from rich.console import Console
from rich.table import Table

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, preset
from hedge.ckks.multiparty import (
    COEFFICIENT_ERROR_BOUND,
    CommonReference,
    DecryptionShare,
    KeyShare,
    RelinRound,
    _layout,
    _rns,
    collective_bundle,
    collective_galois_keys,
    collective_public_key,
    collective_relin_keys,
    combine,
    combine_plaintext,
    decryption_share,
    flooding_sigma,
    slot_noise,
    sum_round1,
)
from hedge.ckks.multiparty.compact import compact_bytes, from_compact_bytes
from hedge.ckks.multiparty.ring import ring_for
from hedge.data import Schema, load_ai4i
from hedge.data.sites import AI4I_LEAKS
from hedge.demo import LABEL
from hedge.errors import DatasetNotFoundError
from hedge.ml.plan import plan_training
from machine_info import machine_info

console = Console(width=150)
RESULTS = Path(__file__).parent / "results" / "threshold.json"
T = TypeVar("T")
HOLDERS = ("owner", "plant-1", "plant-2", "plant-3")
BUNDLE_TARGET = 150e6


def demo_features() -> int:
    """The demo's feature count (its schema of AI4I 2020), 8 if the datasets are absent."""
    try:
        frame = load_ai4i().drop(columns=list(AI4I_LEAKS))
    except DatasetNotFoundError:
        return 8
    return len(Schema.infer(frame, label=LABEL).columns)


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
    features = demo_features()
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
    sigma = flooding_sigma(params)
    share_times: list[float] = []
    dshares: list[DecryptionShare] = []
    for name, share in shares.items():
        d, t = timed(decryption_share, share, name, ct, sigma)
        dshares.append(d)
        share_times.append(t)
    values, t_combine = timed(combine, params, ct, dshares, list(HOLDERS))
    single_vector = single.public().encrypt(x)
    _, t_release = timed(single.release, single_vector)

    single_times, collective_times = [], []
    for _ in range(3):  # alternating, the fastest of three each
        _, t = engine_work(single.public(), steps, x)
        single_times.append(t)
        collective_total, t = engine_work(bundle, steps, x)
        collective_times.append(t)
    t_single_work, t_collective_work = min(single_times), min(collective_times)
    ideal = x * x + sum(np.roll(x, -s) for s in steps)
    # coefficient error of the collective work: shares flooded with sigma = 1
    ring = ring_for(params)
    c = collective_total.ciphertexts[0]
    plain = combine_plaintext(params, c, [decryption_share(k, n, c, 1.0)
                                          for n, k in shares.items()], list(HOLDERS))
    want = ring.engine.encode(np.full(params.slot_count, ideal.sum()), collective_total.level,
                              c.scale())
    diff = _rns.submod(_layout.parse_plaintext(plain.to_bytes(), ring.n).polys[0],
                       _layout.parse_plaintext(want.to_bytes(), ring.n).polys[0],
                       ring.column(collective_total.level + 1))
    coefficient_error = float(np.abs(ring.centered_coefficients(diff, tuple(c.parms_id()))).max())
    noise = float((values - x).std())

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
        "coefficient_error": coefficient_error, "coefficient_error_bound": COEFFICIENT_ERROR_BOUND,
        "flooding_sigma": sigma, "slot_noise_measured": noise,
        "slot_noise_stated": slot_noise(params, len(HOLDERS), ct.scale()),
    })

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
    bound_bits = math.log2(COEFFICIENT_ERROR_BOUND)
    table.add_row("coefficient error of that work",
                  f"{coefficient_error:.3g} (2^{math.log2(coefficient_error):.1f})",
                  f"default public bound 2^{bound_bits:.0f}")
    table.add_row("flooding noise per slot", f"{noise:.4f} measured, "
                  f"{slot_noise(params, len(HOLDERS), ct.scale()):.4f} stated "
                  f"(sigma 2^{math.log2(sigma):.1f})",
                  f"release sigma {single.noise_sigma(2.0**-16, params.slot_count):.4f} for "
                  f"{params.slot_count} values")
    console.print(table)
    RESULTS.write_text(json.dumps(results, indent=2, default=float))
    console.print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
