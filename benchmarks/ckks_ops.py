#!/usr/bin/env python3
"""Benchmarks of hedge's CKKS engine against raw seal-python and TenSEAL.

    .venv/bin/python benchmarks/ckks_ops.py                 # everything (about 3.5 minutes)
    .venv/bin/python benchmarks/ckks_ops.py --presets fast  # one preset (about 20 s)

Measures, in one run (see BENCHMARKS.md for the figures and the machine):

1. per-operation timings for the presets fast, standard and deep, each beside the same work done
   with raw seal-python calls;
2. hedge's overhead on a representative sequence against the minimal raw seal-python sequence;
3. ``sum()`` and ``matmul`` (64x8, 128x128) against TenSEAL 0.3.18 on the same N and primes;
4. `CkksPool` with 2 workers against 1 worker on 16 independent multiply+rotate tasks;
5. encryption throughput and bytes per encrypted value;
6. the size of a public bundle for a typical rotation set.

Results are printed as tables and written to ``benchmarks/results/ckks_ops.json``. Timings are
medians over several repetitions of wall-clock time (``time.perf_counter``); process CPU time is
recorded as well, because TenSEAL runs some operations on several threads while hedge and SEAL use
one. The module body only defines things: `CkksPool` workers are started with ``spawn`` and
re-import this file to find `task`.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import seal
from rich.console import Console
from rich.table import Table

from hedge.ckks import CkksPool, EncryptedVector, KeySet, PublicBundle, preset, rotations
from hedge.ckks.hazmat import decrypt_exact
from hedge.ckks.params import Parameters
from machine_info import machine_info

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "ckks_ops.json"
PRESET_NAMES = ("fast", "standard", "deep")
COMPARED = ("fast", "standard")  # presets for the raw-SEAL sequence, TenSEAL and the pool

OVERHEAD_TARGET_PCT = 10.0
TENSEAL_TARGET_X = 10.0
POOL_TARGET_X = 1.7
POOL_TASKS = 16
MATMUL_SHAPES = ((64, 8), (128, 128))
POLY = (0.25, -0.5, 0.125, 0.0625)  # degree 3, increasing order, non-integer coefficients


@dataclass(frozen=True)
class Reps:
    """Repetitions per preset (deep operations take about half a second each)."""

    ops: int
    warmup: int
    sequence: int
    tenseal: int
    pool: int


REPS = {
    "fast": Reps(ops=15, warmup=1, sequence=40, tenseal=5, pool=9),
    "standard": Reps(ops=9, warmup=1, sequence=30, tenseal=5, pool=5),
    "deep": Reps(ops=3, warmup=0, sequence=0, tenseal=0, pool=0),
}
#: ``--smoke``: every section once, to show the script runs (its figures mean nothing)
SMOKE_REPS = Reps(ops=1, warmup=0, sequence=1, tenseal=1, pool=1)

console = Console(width=None if sys.stdout.isatty() else 160)
Values = np.ndarray


def task(v: EncryptedVector) -> EncryptedVector:
    """The pool workload: one ciphertext multiplication and one rotation."""
    return (v * v).rotate(1)


# -- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Median and minimum wall-clock time and median process CPU time, in milliseconds."""

    median_ms: float
    min_ms: float
    cpu_ms: float
    reps: int


def _timing(wall: Sequence[float], cpu: Sequence[float]) -> Timing:
    return Timing(
        median_ms=statistics.median(wall) * 1e3,
        min_ms=min(wall) * 1e3,
        cpu_ms=statistics.median(cpu) * 1e3,
        reps=len(wall),
    )


def _once(fn: Callable[[], object]) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out = fn()
    wall1, cpu1 = time.perf_counter(), time.process_time()
    del out  # freeing the result is not part of the operation
    return wall1 - wall0, cpu1 - cpu0


def measure(fn: Callable[[], object], reps: int, warmup: int = 1) -> Timing:
    """Time `fn` `reps` times after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(reps):
        w, c = _once(fn)
        wall.append(w)
        cpu.append(c)
    return _timing(wall, cpu)


def measure_pair(
    first: Callable[[], object], second: Callable[[], object], reps: int, warmup: int = 1
) -> tuple[Timing, Timing]:
    """Time two functions alternately (order swapped every repetition), so drift hits both."""
    for _ in range(warmup):
        first()
        second()
    samples: dict[int, tuple[list[float], list[float]]] = {0: ([], []), 1: ([], [])}
    fns = (first, second)
    for i in range(reps):
        for j in (0, 1) if i % 2 == 0 else (1, 0):
            w, c = _once(fns[j])
            samples[j][0].append(w)
            samples[j][1].append(c)
    return _timing(*samples[0]), _timing(*samples[1])


def seconds(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result, wall-clock seconds) of one call."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def max_error(got: Values | None, expected: Values) -> float | None:
    """Largest absolute difference over the expected entries (None if nothing to compare)."""
    if got is None:
        return None
    got = np.asarray(got, dtype=np.float64).ravel()
    return float(np.max(np.abs(got[: expected.size] - expected)))


# -- the same work with raw seal-python ----------------------------------------------------------


class RawSeal:
    """The minimal raw seal-python calls a careful SEAL user would make on hedge's parameters.

    Same context, encoder, evaluator and keys as hedge, the same canonical scale table (so that
    results agree), levels tracked by the caller instead of looked up, no validation, no
    container format. Plaintexts are encoded at the top level and mod-switched down, because
    seal-python's `CKKSEncoder.encode` takes no parms_id.
    """

    def __init__(self, keys: KeySet) -> None:
        bundle = keys.public()
        eng = bundle.engine
        self.context = eng.context
        self.encoder = eng.encoder
        self.ev = eng.evaluator
        self.slots = eng.slots
        self.top = eng.top_level
        self.scales = list(eng.scales)
        self.primes = list(eng.primes)
        self.parms = chain_parms_ids(eng.context)
        self.relin = bundle.relin_keys
        self.galois = bundle.galois_keys
        self.encryptor = seal.Encryptor(eng.context, keys._public_key)
        self.decryptor = seal.Decryptor(eng.context, keys._secret_key)

    def encrypt(self, values: Values) -> seal.Ciphertext:
        return self.encryptor.encrypt(self.encoder.encode(values, self.scales[self.top]))

    def decrypt(self, ct: seal.Ciphertext) -> Values:
        return np.asarray(self.encoder.decode(self.decryptor.decrypt(ct)))

    def multiply(self, a: seal.Ciphertext, b: seal.Ciphertext, level: int) -> seal.Ciphertext:
        out = self.ev.square(a) if a is b else self.ev.multiply(a, b)
        self.ev.relinearize_inplace(out, self.relin)
        self.ev.rescale_to_next_inplace(out)
        out.scale(self.scales[level - 1])
        return out

    def mul_plain_to(
        self, ct: seal.Ciphertext, values: Values | float, level: int, target: int
    ) -> seal.Ciphertext:
        """ct (at `level`) * values, landing at `target` with the canonical scale."""
        if level > target + 1:
            ct = self.ev.mod_switch_to(ct, self.parms[target + 1])
        scale = self.scales[target] * self.primes[target + 1] / self.scales[level]
        plain = self.encoder.encode(values, scale)
        if target + 1 != self.top:
            self.ev.mod_switch_to_inplace(plain, self.parms[target + 1])
        out = self.ev.multiply_plain(ct, plain)
        self.ev.rescale_to_next_inplace(out)
        out.scale(self.scales[target])
        return out

    def add_plain(self, ct: seal.Ciphertext, value: float, level: int) -> seal.Ciphertext:
        plain = self.encoder.encode(value, self.scales[level])
        if level != self.top:
            self.ev.mod_switch_to_inplace(plain, self.parms[level])
        return self.ev.add_plain(ct, plain)

    def rotate(self, ct: seal.Ciphertext, step: int) -> seal.Ciphertext:
        return self.ev.rotate_vector(ct, step, self.galois)

    def sum(self, ct: seal.Ciphertext) -> seal.Ciphertext:
        step = 1
        while step < self.slots:
            ct = self.ev.add(ct, self.ev.rotate_vector(ct, step, self.galois))
            step *= 2
        return ct

    def polyval3(self, x: seal.Ciphertext, c: Sequence[float]) -> seal.Ciphertext:
        """c0 + c1 x + c2 x^2 + c3 x^3 = (c2 + c3 x) x^2 + (c0 + c1 x), x fresh: two levels.

        The low part is computed directly at the output level (one plaintext multiplication
        fewer than computing it one level higher and bringing it down)."""
        top = self.top
        x2 = self.multiply(x, x, top)
        high = self.add_plain(self.mul_plain_to(x, c[3], top, top - 1), c[2], top - 1)
        product = self.multiply(x2, high, top - 1)
        low = self.add_plain(self.mul_plain_to(x, c[1], top, top - 2), c[0], top - 2)
        return self.ev.add(product, low)

    def to_bytes(self, ct: seal.Ciphertext) -> bytes:
        return bytes(ct.to_string())

    def from_bytes(self, data: bytes) -> seal.Ciphertext:
        ct = seal.Ciphertext()
        ct.load_bytes(self.context, data)
        return ct


def chain_parms_ids(context: seal.SEALContext) -> list[list[int]]:
    """The parms_id of every data level, indexed by level (0 = last), read off SEAL's chain."""
    ids: dict[int, list[int]] = {}
    data = context.first_context_data()
    while data is not None:
        ids[data.chain_index()] = data.parms_id()
        data = data.next_context_data()
    return [ids[level] for level in range(len(ids))]


# -- 0. keys ----------------------------------------------------------------------------------


def main_rotation_steps(p: Parameters) -> set[int]:
    """Galois keys for the per-operation and TenSEAL sections: rotate(1), sum and the matmuls.

    Deep gets only rotate(1) and sum (each key is about 220 MB at N=32768)."""
    steps = rotations.union([1], rotations.steps_for_sum(p))
    if p.name != "deep":
        for d_in, d_out in MATMUL_SHAPES:
            steps = rotations.union(steps, rotations.steps_for_matmul(p, d_in, d_out))
    return steps


def typical_rotation_steps(p: Parameters) -> set[int]:
    """The 'typical' set of section 6: sum plus a 64x8 matmul."""
    return rotations.union(rotations.steps_for_sum(p), rotations.steps_for_matmul(p, 64, 8))


# -- 1. per-operation timings -------------------------------------------------------------------


@dataclass
class OpResult:
    name: str
    hedge: Timing
    raw: Timing | None
    hedge_error: float | None
    raw_error: float | None

    @property
    def overhead_pct(self) -> float | None:
        if self.raw is None:
            return None
        return (self.hedge.median_ms / self.raw.median_ms - 1.0) * 100.0


def bench_operations(p: Parameters, keys: KeySet, raw: RawSeal, reps: Reps) -> list[OpResult]:
    bundle = keys.public()
    rng = np.random.default_rng(1)
    n = p.slot_count
    x, y, z = (rng.uniform(-1.0, 1.0, n) for _ in range(3))
    top = raw.top
    v, w = bundle.encrypt(x), bundle.encrypt(y)
    cx, cy = raw.encrypt(x), raw.encrypt(y)
    blob, raw_blob = v.to_bytes(), raw.to_bytes(cx)
    poly_expected = np.polynomial.polynomial.polyval(x, POLY)

    # (name, hedge, raw, expected values)
    ops: list[tuple[str, Callable[[], object], Callable[[], object], Values | None]] = [
        ("encrypt (encode + encrypt)", lambda: bundle.encrypt(x), lambda: raw.encrypt(x), x),
        ("decrypt (decrypt + decode)", lambda: decrypt_exact(keys, v), lambda: raw.decrypt(cx), x),
        ("add ct + ct", lambda: v + w, lambda: raw.ev.add(cx, cy), x + y),
        ("multiply ct * ct (relin + rescale)", lambda: v * w,
         lambda: raw.multiply(cx, cy, top), x * y),
        ("multiply by plain vector (+ rescale)", lambda: v * z,
         lambda: raw.mul_plain_to(cx, z, top, top - 1), x * z),
        ("rotate by 1", lambda: v.rotate(1), lambda: raw.rotate(cx, 1), np.roll(x, -1)),
        (f"sum() of {n} values", v.sum, lambda: raw.sum(cx), np.array([x.sum()])),
        ("polyval degree 3", lambda: v.polyval(POLY), lambda: raw.polyval3(cx, POLY),
         poly_expected),
        ("serialize (to_bytes)", v.to_bytes, lambda: raw.to_bytes(cx), None),
        ("deserialize (from_bytes)", lambda: EncryptedVector.from_bytes(blob, bundle),
         lambda: raw.from_bytes(raw_blob), x),
    ]
    results: list[OpResult] = []
    for name, hedge_fn, raw_fn, expected in ops:
        gc.collect()
        th, tr = measure_pair(hedge_fn, raw_fn, reps.ops, reps.warmup)
        herr = rerr = None
        if expected is not None:
            h_out, r_out = hedge_fn(), raw_fn()
            h_vals = decrypt_exact(keys, h_out) if isinstance(h_out, EncryptedVector) else h_out
            r_vals = raw.decrypt(r_out) if isinstance(r_out, seal.Ciphertext) else r_out
            herr = max_error(np.asarray(h_vals), expected)
            rerr = max_error(np.asarray(r_vals), expected)
        results.append(OpResult(name, th, tr, herr, rerr))
        console.log(f"{p.name}: {name}: hedge {th.median_ms:.2f} ms, raw {tr.median_ms:.2f} ms")
    return results


# -- 2. overhead on a representative sequence ----------------------------------------------------


def bench_overhead(p: Parameters, keys: KeySet, raw: RawSeal, reps: Reps) -> dict[str, Any]:
    """encrypt x, encrypt y, (x * y) * z, + rotate(1), decrypt — hedge API vs raw seal calls."""
    bundle = keys.public()
    rng = np.random.default_rng(2)
    x, y, z = (rng.uniform(-1.0, 1.0, p.slot_count) for _ in range(3))
    product = x * y * z
    expected = product + np.roll(product, -1)
    top = raw.top

    def hedge_sequence() -> Values:
        q = (bundle.encrypt(x) * bundle.encrypt(y)) * z
        return decrypt_exact(keys, q + q.rotate(1))

    def raw_sequence() -> Values:
        c = raw.multiply(raw.encrypt(x), raw.encrypt(y), top)
        q = raw.mul_plain_to(c, z, top - 1, top - 2)
        return raw.decrypt(raw.ev.add(q, raw.rotate(q, 1)))

    gc.collect()
    th, tr = measure_pair(hedge_sequence, raw_sequence, reps.sequence, warmup=2)
    overhead = (th.median_ms / tr.median_ms - 1.0) * 100.0
    result = {
        "sequence": "encrypt x, encrypt y, multiply ct*ct (relin+rescale), multiply by plain "
        "vector (+rescale), rotate by 1, add, decrypt",
        "hedge": asdict(th),
        "raw_seal": asdict(tr),
        "overhead_pct": overhead,
        "overhead_min_based_pct": (th.min_ms / tr.min_ms - 1.0) * 100.0,
        "target_pct": OVERHEAD_TARGET_PCT,
        "met": overhead <= OVERHEAD_TARGET_PCT,
        "hedge_max_error": max_error(hedge_sequence(), expected),
        "raw_max_error": max_error(raw_sequence(), expected),
    }
    console.log(f"{p.name}: sequence: hedge {th.median_ms:.2f} ms, raw {tr.median_ms:.2f} ms, "
                f"overhead {overhead:+.1f} %")
    return result


# -- 3. TenSEAL -------------------------------------------------------------------------------


def bench_tenseal(p: Parameters, keys: KeySet, reps: Reps) -> dict[str, Any]:
    import tenseal as ts

    bundle = keys.public()
    bits = [*p.data_bits, p.special_bits]

    def make_context() -> Any:
        ctx = ts.context(ts.SCHEME_TYPE.CKKS, p.poly_modulus_degree, coeff_mod_bit_sizes=bits)
        ctx.global_scale = 2**40
        ctx.generate_galois_keys()
        return ctx

    ctx, keygen_s = seconds(make_context)
    rng = np.random.default_rng(3)
    rows: list[dict[str, Any]] = []

    def compare(name: str, hedge_fn: Callable[[], EncryptedVector],
                ts_fn: Callable[[], Any], expected: Values, *, like_for_like: bool = True) -> None:
        gc.collect()
        th, tt = measure_pair(hedge_fn, ts_fn, reps.tenseal, reps.warmup)
        speedup = tt.median_ms / th.median_ms
        rows.append({
            "operation": name,
            "hedge": asdict(th),
            "tenseal": asdict(tt),
            "speedup": speedup,
            "cpu_time_ratio": tt.cpu_ms / th.cpu_ms,
            "target_x": TENSEAL_TARGET_X if like_for_like else None,
            "met": speedup >= TENSEAL_TARGET_X if like_for_like else None,
            "hedge_max_error": max_error(decrypt_exact(keys, hedge_fn()), expected),
            "tenseal_max_error": max_error(np.asarray(ts_fn().decrypt()), expected),
        })
        console.log(f"{p.name}: {name}: hedge {th.median_ms:.1f} ms, TenSEAL "
                    f"{tt.median_ms:.1f} ms, speedup {speedup:.1f}x")

    x = rng.uniform(-1.0, 1.0, p.slot_count)
    hv, tv = bundle.encrypt(x), ts.ckks_vector(ctx, x.tolist())
    compare(f"sum() of {p.slot_count} values", hv.sum, tv.sum, np.array([x.sum()]))
    # informational, not like-for-like: hedge's level control (TenSEAL has none) drops the
    # vector to level 1 before the rotations; the result keeps 1 level instead of all
    compare(f"sum() of {p.slot_count} values, hedge at_level(1) first (informational)",
            lambda: hv.at_level(1).sum(), tv.sum, np.array([x.sum()]), like_for_like=False)
    for d_in, d_out in MATMUL_SHAPES:
        xs = rng.uniform(-1.0, 1.0, d_in)
        m = rng.uniform(-1.0, 1.0, (d_in, d_out))
        m_list = m.tolist()
        hx, tx = bundle.encrypt(xs), ts.ckks_vector(ctx, xs.tolist())
        compare(f"matmul {d_in}x{d_out}", functools.partial(hx.matmul, m),
                functools.partial(tx.matmul, m_list), xs @ m)
    return {
        "tenseal_version": ts.__version__,
        "tenseal_context": {"poly_modulus_degree": p.poly_modulus_degree,
                            "coeff_mod_bit_sizes": bits, "global_scale": "2**40",
                            "galois_keys": "generate_galois_keys() (TenSEAL default set)",
                            "n_threads": "TenSEAL default (all cores)"},
        "tenseal_keygen_s": keygen_s,
        "rows": rows,
    }


# -- 4. parallel map ----------------------------------------------------------------------------


def bench_pool(p: Parameters, reps: Reps) -> dict[str, Any]:
    keys = KeySet.generate(p, rotations=[1])
    bundle = keys.public()
    rng = np.random.default_rng(4)
    xs = [rng.uniform(-1.0, 1.0, p.slot_count) for _ in range(POOL_TASKS)]
    vectors = [bundle.encrypt(x) for x in xs]
    gc.collect()
    serial = measure(lambda: [task(v) for v in vectors], reps.pool, warmup=1)
    errors: list[float] = []
    with CkksPool(bundle, workers=1) as pool1, CkksPool(bundle, workers=2) as pool2:
        for pool in (pool1, pool2):
            pool.warm_up()
            out = pool.map(task, vectors)  # untimed: first use of the function in the workers
            errors += [max_error(decrypt_exact(keys, o), np.roll(x * x, -1)) or 0.0
                       for o, x in zip(out, xs, strict=True)]
            del out
        gc.collect()
        # both pools stay up and are timed alternately, so load changes hit both alike
        one, two = measure_pair(lambda: pool1.map(task, vectors),
                                lambda: pool2.map(task, vectors), reps.pool, warmup=0)
    timings = {1: one, 2: two}
    console.log(f"{p.name}: pool: workers=1 {one.median_ms:.0f} ms, workers=2 "
                f"{two.median_ms:.0f} ms")
    speedup = timings[1].median_ms / timings[2].median_ms
    return {
        "tasks": POOL_TASKS,
        "task": "(v * v).rotate(1) on a full vector",
        "in_process_serial": asdict(serial),
        "per_task_ms": serial.median_ms / POOL_TASKS,
        "workers_1": asdict(timings[1]),
        "workers_2": asdict(timings[2]),
        "speedup": speedup,
        "target_x": POOL_TARGET_X,
        "met": speedup >= POOL_TARGET_X,
        "max_error": max(errors),
    }


# -- 5. throughput and size ---------------------------------------------------------------------


def throughput(p: Parameters, keys: KeySet, raw: RawSeal, ops: list[OpResult]) -> dict[str, Any]:
    encrypt = next(o for o in ops if o.name.startswith("encrypt"))
    x = np.random.default_rng(5).uniform(-1.0, 1.0, p.slot_count)
    hedge_bytes = len(keys.public().encrypt(x).to_bytes())
    raw_bytes = len(raw.to_bytes(raw.encrypt(x)))
    assert encrypt.raw is not None
    return {
        "values_per_ciphertext": p.slot_count,
        "encrypt_ms": encrypt.hedge.median_ms,
        "values_per_s_per_core": p.slot_count / (encrypt.hedge.median_ms / 1e3),
        "raw_values_per_s_per_core": p.slot_count / (encrypt.raw.median_ms / 1e3),
        "bytes_per_ciphertext": hedge_bytes,
        "bytes_per_value": hedge_bytes / p.slot_count,
        "raw_bytes_per_value": raw_bytes / p.slot_count,
    }


# -- 6. public bundle size -----------------------------------------------------------------------


def bench_bundle(p: Parameters, main_keys: KeySet) -> dict[str, Any]:
    """len(bundle.to_bytes()) for sum + 64x8 matmul keys; estimated from key sizes for deep."""
    steps = sorted(typical_rotation_steps(p))
    main_bundle = main_keys.public()
    key_bytes = len(main_bundle.relin_keys.to_string())  # one key-switching key, like a Galois key
    pk_bytes = len(main_keys._public_key.to_string())
    estimate = pk_bytes + (1 + len(steps)) * key_bytes
    out: dict[str, Any] = {
        "rotation_steps": steps,
        "galois_keys": len(steps),
        "public_key_bytes": pk_bytes,
        "relin_key_bytes": key_bytes,
        "estimated_bytes": estimate,
    }
    if p.name == "deep":
        out.update(measured=False, bundle_bytes=estimate,
                   note="estimated: public key + (1 relinearisation key + k Galois keys) x the "
                   "measured size of one key-switching key; generating and serializing "
                   f"{len(steps)} Galois keys at N=32768 (about "
                   f"{estimate / 1e9:.1f} GB) was left out to keep the run short")
        return out
    keys, keygen_s = seconds(lambda: KeySet.generate(p, rotations=steps))
    bundle = keys.public()
    blob, ser_s = seconds(bundle.to_bytes)
    _, load_s = seconds(lambda: PublicBundle.from_bytes(blob))
    galois_bytes = len(blob) - pk_bytes - key_bytes
    out.update(measured=True, bundle_bytes=len(blob), keygen_s=keygen_s, to_bytes_s=ser_s,
               from_bytes_s=load_s, galois_bytes_per_key=galois_bytes / len(steps))
    return out


# -- tables -----------------------------------------------------------------------------------


def _ms(t: Timing | dict[str, Any] | None) -> str:
    if t is None:
        return "—"
    value = t.median_ms if isinstance(t, Timing) else t["median_ms"]
    return f"{value:,.1f}" if value >= 100 else f"{value:.2f}"


def _err(e: float | None) -> str:
    return "—" if e is None else f"{e:.1e}"


def _met(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]NO[/red]"


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def table_keys(res: dict[str, Any]) -> Table:
    t = Table(title="0. Key generation (Galois keys for rotate(1), sum and the matmuls)")
    for col in ("preset", "N", "Galois keys", "KeySet.generate"):
        t.add_column(col, justify="right")
    for name, r in res["presets"].items():
        k = r["keys"]
        t.add_row(name, str(r["N"]), str(k["galois_keys"]), f"{k['keygen_s']:.1f} s")
    return t


def table_ops(name: str, n: int, ops: list[OpResult]) -> Table:
    t = Table(title=f"1. Per-operation timings, preset {name} (N={n}), median of "
              f"{ops[0].hedge.reps} — reference: the same work in raw seal-python; no target")
    for col in ("operation", "hedge ms", "raw SEAL ms", "overhead", "max err hedge",
                "max err raw", "target"):
        t.add_column(col, justify="left" if col == "operation" else "right")
    for o in ops:
        overhead = "—" if o.overhead_pct is None else f"{o.overhead_pct:+.1f} %"
        t.add_row(o.name, _ms(o.hedge), _ms(o.raw), overhead, _err(o.hedge_error),
                  _err(o.raw_error), "—")
    return t


def table_overhead(res: dict[str, Any]) -> Table:
    t = Table(title="2. hedge overhead vs the same sequence of raw seal-python calls "
              "(encrypt x2, ct*ct, ct*plain, rotate 1, add, decrypt)")
    for col in ("preset", "reps", "hedge ms", "raw SEAL ms", "overhead (median)",
                "overhead (min)", "target", "met", "max err hedge / raw"):
        t.add_column(col, justify="right")
    for name, r in res["presets"].items():
        o = r.get("overhead")
        if o is None:
            continue
        t.add_row(name, str(o["hedge"]["reps"]), _ms(o["hedge"]), _ms(o["raw_seal"]),
                  f"{o['overhead_pct']:+.1f} %", f"{o['overhead_min_based_pct']:+.1f} %",
                  f"≤ {o['target_pct']:.0f} %", _met(o["met"]),
                  f"{_err(o['hedge_max_error'])} / {_err(o['raw_max_error'])}")
    return t


def table_tenseal(res: dict[str, Any]) -> Table:
    t = Table(title="3. hedge vs TenSEAL 0.3.18 (same N, same primes, fresh ciphertexts; "
              "TenSEAL with its default threads)")
    for col in ("preset", "operation", "hedge ms", "TenSEAL ms", "speedup", "CPU-time ratio",
                "target", "met", "max err hedge / TenSEAL"):
        t.add_column(col, justify="left" if col == "operation" else "right")
    for name, r in res["presets"].items():
        ten = r.get("tenseal")
        if ten is None:
            continue
        for row in ten["rows"]:
            t.add_row(name, row["operation"], _ms(row["hedge"]), _ms(row["tenseal"]),
                      f"{row['speedup']:.1f}x", f"{row['cpu_time_ratio']:.1f}x",
                      "—" if row["target_x"] is None else f"≥ {row['target_x']:.0f}x",
                      "—" if row["met"] is None else _met(row["met"]),
                      f"{_err(row['hedge_max_error'])} / {_err(row['tenseal_max_error'])}")
    return t


def table_pool(res: dict[str, Any]) -> Table:
    t = Table(title=f"4. CkksPool, {POOL_TASKS} tasks (v * v).rotate(1), workers=2 vs workers=1")
    for col in ("preset", "per task (in process)", "in process ms", "workers=1 ms",
                "workers=2 ms", "speedup", "target", "met"):
        t.add_column(col, justify="right")
    for name, r in res["presets"].items():
        pl = r.get("pool")
        if pl is None:
            continue
        t.add_row(name, f"{pl['per_task_ms']:.1f} ms", _ms(pl["in_process_serial"]),
                  _ms(pl["workers_1"]), _ms(pl["workers_2"]), f"{pl['speedup']:.2f}x",
                  f"≥ {pl['target_x']}x", _met(pl["met"]))
    return t


def table_throughput(res: dict[str, Any]) -> Table:
    t = Table(title="5. Encryption throughput (one process, one core) and size of a fresh "
              "full ciphertext — reference: raw seal-python; no target")
    for col in ("preset", "values / ct", "encrypt ms", "values/s per core",
                "raw SEAL values/s", "bytes / value", "raw SEAL bytes / value", "target"):
        t.add_column(col, justify="right")
    for name, r in res["presets"].items():
        tp = r["throughput"]
        t.add_row(name, str(tp["values_per_ciphertext"]), f"{tp['encrypt_ms']:.1f}",
                  f"{tp['values_per_s_per_core']:,.0f}", f"{tp['raw_values_per_s_per_core']:,.0f}",
                  f"{tp['bytes_per_value']:.1f}", f"{tp['raw_bytes_per_value']:.1f}", "—")
    return t


def table_bundle(res: dict[str, Any]) -> Table:
    t = Table(title="6. Public bundle size, rotation set = sum + 64x8 matmul — reference: "
              "public key + (1 + k) key-switching keys; no target")
    for col in ("preset", "Galois keys", "bundle size", "how", "estimate", "per key",
                "to_bytes", "from_bytes"):
        t.add_column(col, justify="right")
    for name, r in res["presets"].items():
        b = r["bundle"]
        measured = b["measured"]
        t.add_row(name, str(b["galois_keys"]), _mb(b["bundle_bytes"]),
                  "measured" if measured else "estimated", _mb(b["estimated_bytes"]),
                  _mb(b.get("galois_bytes_per_key", b["relin_key_bytes"])),
                  f"{b['to_bytes_s']:.1f} s" if measured else "—",
                  f"{b['from_bytes_s']:.1f} s" if measured else "—")
    return t


def summary_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, r in res["presets"].items():
        if (o := r.get("overhead")) is not None:
            rows.append({"item": f"overhead vs raw seal-python, {name}", "target": "≤ 10 %",
                         "measured": f"{o['overhead_pct']:+.1f} %", "met": o["met"]})
        for row in (r.get("tenseal") or {}).get("rows", []):
            if row["met"] is None:
                continue
            rows.append({"item": f"{row['operation']} vs TenSEAL, {name}", "target": "≥ 10x",
                         "measured": f"{row['speedup']:.1f}x", "met": row["met"]})
        if (pl := r.get("pool")) is not None:
            rows.append({"item": f"CkksPool 2 vs 1 workers, {name}", "target": "≥ 1.7x",
                         "measured": f"{pl['speedup']:.2f}x", "met": pl["met"]})
    return rows


def table_summary(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="Summary: targets")
    for col in ("item", "target", "measured", "met"):
        t.add_column(col, justify="left" if col == "item" else "right")
    for row in rows:
        t.add_row(row["item"], row["target"], row["measured"], _met(row["met"]))
    return t


def _cpu_jiffies() -> tuple[int, int]:
    """(total, busy) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    return total, total - fields[3] - fields[4]  # minus idle and iowait


def cpu_busy_fraction(interval: float = 1.0) -> float | None:
    """Share of all CPUs busy during `interval` seconds, before any work of this script."""
    try:
        total0, busy0 = _cpu_jiffies()
        time.sleep(interval)
        total1, busy1 = _cpu_jiffies()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def foreign_cpu_seconds(busy_start: int | None) -> float | None:
    """CPU seconds used by processes other than this one and its (finished) pool workers."""
    if busy_start is None:
        return None
    try:
        _, busy = _cpu_jiffies()
    except (OSError, ValueError, IndexError):
        return None
    own = sum(os.times()[:4])
    return max(0.0, (busy - busy_start) / os.sysconf("SC_CLK_TCK") - own)


# -- driver -----------------------------------------------------------------------------------


def _ops_dict(ops: list[OpResult]) -> list[dict[str, Any]]:
    return [{"operation": o.name, "hedge": asdict(o.hedge),
             "raw_seal": None if o.raw is None else asdict(o.raw),
             "overhead_pct": o.overhead_pct, "hedge_max_error": o.hedge_error,
             "raw_max_error": o.raw_error} for o in ops]


def run_preset(name: str, *, smoke: bool = False) -> dict[str, Any]:
    p = preset(name)
    reps = SMOKE_REPS if smoke else REPS[name]
    steps = main_rotation_steps(p)
    console.rule(f"preset {name} (N={p.poly_modulus_degree}, depth {p.depth})")
    keys, keygen_s = seconds(lambda: KeySet.generate(p, rotations=steps))
    console.log(f"{name}: KeySet.generate with {len(steps)} Galois keys: {keygen_s:.1f} s")
    raw = RawSeal(keys)
    out: dict[str, Any] = {
        "N": p.poly_modulus_degree,
        "slots": p.slot_count,
        "depth": p.depth,
        "coeff_mod_bits": [*p.data_bits, p.special_bits],
        "reps": asdict(reps),
        "keys": {"galois_keys": len(steps), "rotation_steps": sorted(steps),
                 "keygen_s": keygen_s},
    }
    ops = bench_operations(p, keys, raw, reps)
    out["operations"] = _ops_dict(ops)
    console.print(table_ops(name, p.poly_modulus_degree, ops))
    out["throughput"] = throughput(p, keys, raw, ops)
    if name in COMPARED:
        out["overhead"] = bench_overhead(p, keys, raw, reps)
        out["tenseal"] = bench_tenseal(p, keys, reps)
        gc.collect()
        out["pool"] = bench_pool(p, reps)
    out["bundle"] = bench_bundle(p, keys)
    del raw, keys
    gc.collect()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--presets", nargs="+", choices=PRESET_NAMES, default=list(PRESET_NAMES))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--smoke", action="store_true",
                        help="one repetition of everything, to check the script runs (the "
                             "figures mean nothing; use with --presets fast and --output)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_info(), "presets": {}}
    busy = cpu_busy_fraction()
    try:
        busy_start: int | None = _cpu_jiffies()[1]
    except (OSError, ValueError, IndexError):
        busy_start = None
    results["cpu_busy_before_start"] = busy
    if busy is not None and busy > 0.1:
        console.log(f"[yellow]warning: the CPUs were {busy:.0%} busy before the start — other "
                    "processes are running; timings (the 2-worker pool above all) will be noisy")
    m = results["machine"]
    console.log(f"{m['cpu_model']} ({m['cores']} cores, {m['ram_gib']:.1f} GiB), Python "
                f"{m['python']}, seal-python {m['seal_python']}, TenSEAL {m['tenseal']}")
    for name in args.presets:
        results["presets"][name] = run_preset(name, smoke=args.smoke)
    console.rule("results")
    for make in (table_keys, table_overhead, table_tenseal, table_pool, table_throughput,
                 table_bundle):
        console.print(make(results))
    rows = summary_rows(results)
    console.print(table_summary(rows))
    results["summary"] = rows
    results["total_runtime_s"] = time.perf_counter() - start
    foreign = foreign_cpu_seconds(busy_start)
    results["foreign_cpu_s"] = foreign
    if foreign is not None:
        console.log(f"other processes used {foreign:.0f} CPU-seconds during the run "
                    f"({foreign / results['total_runtime_s']:.0%} of one core)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    console.log(f"total runtime {results['total_runtime_s']:.0f} s; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
