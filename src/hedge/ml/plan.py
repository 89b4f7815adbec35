"""Training plans: everything fixed before keys exist (preset, depth, iterations, rotation keys).

`plan_training("logistic", features=9, max_rows=20000, mode="non-interactive")` picks the smallest
preset whose depth covers the iterations, the exact Galois-key steps the layout needs, and
estimates the evaluation-key bundle size and the training time from measured per-operation
costs (BENCHMARKS.md, top level; operations lower down are cheaper, so estimates are upper-ish).
Keys are then generated from `plan.rotation_steps`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from hedge.ckks import PRESETS, preset
from hedge.errors import ParameterError, SchemaError
from hedge.files import read_json, write_json
from hedge.ml.layout import RowLayout
from hedge.ml.logistic import EncryptedLogisticRegression
from hedge.ml.ridge import EncryptedRidge

__all__ = ["TrainingPlan", "check_features", "plan_training"]

Mode = Literal["non-interactive", "assisted"]

#: Measured on the reference machine (ms, top level): rotation, ct*ct, ct*plain, encryption.
_COSTS_MS = {
    "fast": (3.3, 4.7, 1.7, 4.4),
    "standard": (25.0, 30.7, 7.9, 17.5),
    "deep": (206.0, 244.0, 36.0, 79.0),
}
#: Measured size of one Galois (or relinearisation) key, bytes.
_KEY_BYTES = {"fast": 2_625_779, "standard": 23_601_290, "deep": 220_203_284}
_LEVEL_DISCOUNT = 0.7  # operations below the top level cost less


@dataclass(frozen=True)
class TrainingPlan:
    kind: str
    features: int
    max_rows: int
    mode: str
    preset: str
    iterations: int
    depth: int
    refresh_every: int | None
    rotation_steps: list[int]
    bundle_bytes: int
    seconds: float
    encrypt_seconds_per_1000_rows: float

    @property
    def columns(self) -> int:
        return self.features + 1

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, **asdict(self)}

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "the training plan") -> TrainingPlan:
        """The plan from `to_dict`'s data, every field checked for its JSON type and range;
        `SchemaError` naming the field and `where` the data came from otherwise (a field
        missing, unknown, of another type, or out of range)."""
        if data.get("version") != 1:
            raise SchemaError(f"{where}: field 'version' is {data.get('version')!r}, not 1; "
                              "make the plan again with this hedge (hedge plan ...)")
        unknown = sorted(set(data) - {"version", *_FIELDS})
        if unknown:
            raise SchemaError(f"{where}: unknown field {unknown[0]!r}; a training plan has "
                              f"the fields {', '.join(_FIELDS)}")
        values: dict[str, Any] = {}
        for name, (check, expected) in _FIELDS.items():
            if name not in data:
                raise SchemaError(f"{where}: field {name!r} is missing ({expected} expected); "
                                  "make the plan again (hedge plan ...)")
            value = data[name]
            if not check(value):
                shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
                raise SchemaError(f"{where}: field {name!r} is {shown}, not {expected}; "
                                  "correct it, or make the plan again (hedge plan ...)")
            values[name] = value
        return cls(**values)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingPlan:
        """The plan saved in `path`; `SchemaError` naming the file and the field if not."""
        return cls.from_dict(read_json(path, "training plan"), f"the training plan {path}")


def _whole(value: Any) -> bool:
    """A whole number (JSON's true and false are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _count(low: int) -> Callable[[Any], bool]:
    """A check for a whole number of at least `low`."""
    return lambda v: _whole(v) and v >= low


def _duration(value: Any) -> bool:
    """A finite number of seconds, zero or more."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


def _steps(value: Any) -> bool:
    """A list of whole rotation steps."""
    return isinstance(value, list) and all(_whole(v) for v in value)


#: Every field of a plan file (besides "version"): its check, and what it must be.
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "kind": (lambda v: v in ("logistic", "ridge"), "'logistic' or 'ridge'"),
    "features": (_count(1), "a whole number of at least 1"),
    "max_rows": (_count(1), "a whole number of at least 1"),
    "mode": (lambda v: v in ("non-interactive", "assisted"), "'non-interactive' or 'assisted'"),
    "preset": (lambda v: isinstance(v, str) and v in PRESETS, f"one of {', '.join(PRESETS)}"),
    "iterations": (_count(1), "a whole number of at least 1"),
    "depth": (_count(0), "a whole number, zero or more"),
    "refresh_every": (lambda v: v is None or _count(1)(v), "null or a whole number of at "
                      "least 1"),
    "rotation_steps": (_steps, "a list of whole numbers"),
    "bundle_bytes": (_count(0), "a whole number, zero or more"),
    "seconds": (_duration, "a number, zero or more"),
    "encrypt_seconds_per_1000_rows": (_duration, "a number, zero or more"),
}


def check_features(planned: int, found: int, where: str) -> None:
    """`SchemaError` unless data of `found` features (a schema's model columns, the intercept
    not counted) fits a plan for `planned`: the plan fixes the keys' rotations and the
    key-service jobs, so both counts must agree before anything is encrypted or trained.
    `where` names the data with its verb ("the schema has", "upload 3 has")."""
    if found != planned:
        raise SchemaError(f"the training plan is for {planned} features, but {where} {found} "
                          f"model columns; the plan and the schema must agree: plan with "
                          f"--features {found} (and make keys from that plan), or encrypt with "
                          f"a schema of {planned} model columns")


def check_mode(mode: str) -> Mode:
    """A training mode given as text (command lines), or `ParameterError`."""
    if mode == "assisted":
        return "assisted"
    if mode == "non-interactive":
        return "non-interactive"
    raise ParameterError(f"mode must be 'non-interactive' or 'assisted', not {mode!r}")


def plan_training(kind: str, features: int, max_rows: int, mode: Mode = "non-interactive",
                  iterations: int | None = None) -> TrainingPlan:
    """The plan for training `kind` on up to `max_rows` rows of `features` columns."""
    if kind not in ("logistic", "ridge"):
        raise ParameterError(f"no plan for model kind {kind!r}; available: logistic, ridge")
    if features < 1 or max_rows < 1:
        raise ParameterError("features and max_rows must be positive")
    mode = check_mode(mode)
    if kind == "ridge":
        return _plan_ridge(features, max_rows, mode, iterations or 3)
    estimator = EncryptedLogisticRegression(iterations=iterations or 2)
    depth = estimator.required_depth()
    if mode == "assisted":
        # refreshed back to the top level between iterations: the depth is that of one segment
        name = "standard"
        estimator = EncryptedLogisticRegression(iterations=iterations or 4)
        depth = EncryptedLogisticRegression(iterations=2).required_depth()
        refresh_every: int | None = 1
    else:
        refresh_every = None
        fitting = [n for n in ("standard", "deep")
                   if estimator.required_depth() <= preset(n).depth]
        if not fitting:
            raise ParameterError(
                f"{estimator.iterations} iterations need depth {estimator.required_depth()}, "
                f"more than the deep preset's {preset('deep').depth}; use --mode assisted")
        name = fitting[0]
        depth = estimator.required_depth()
    params = preset(name)
    layout = RowLayout(features + 1, params.slot_count)
    steps = sorted(layout.rotation_steps())
    rot, mul, plain, _ = _COSTS_MS[name]
    blocks = layout.blocks(max_rows)
    fold = len(layout.column_sum_steps()) + 1
    per_iteration = blocks * (2 * mul + len(layout.row_sum_steps()) * rot + 2 * mul + 2 * plain)
    ms = blocks * plain + fold * rot + (estimator.iterations - 1) * (
        per_iteration * _LEVEL_DISCOUNT + fold * rot)
    return TrainingPlan(
        kind=kind,
        features=features,
        max_rows=max_rows,
        mode=mode,
        preset=name,
        iterations=estimator.iterations,
        depth=depth,
        refresh_every=refresh_every,
        rotation_steps=steps,
        bundle_bytes=_bundle_bytes(name, steps),
        seconds=round(ms / 1000.0, 1),
        encrypt_seconds_per_1000_rows=_encrypt_seconds(name, layout),
    )


def _plan_ridge(features: int, max_rows: int, mode: str, iterations: int) -> TrainingPlan:
    """Ridge: exact for one site; `iterations` Richardson steps when several sites pool."""
    estimator = EncryptedRidge(iterations=iterations)
    if mode != "non-interactive":
        raise ParameterError("ridge needs no refresh: plan it with --mode non-interactive")
    name = next((n for n in ("standard", "deep")
                 if estimator.required_depth() <= preset(n).depth), None)
    if name is None:
        raise ParameterError(f"{iterations} ridge iterations do not fit the deep preset")
    layout = RowLayout(features + 1, preset(name).slot_count)
    steps = sorted({*layout.row_sum_steps(), *layout.column_sum_steps(), -layout.width})
    rot, mul, plain, _ = _COSTS_MS[name]
    blocks = layout.blocks(max_rows)
    fold = len(layout.column_sum_steps()) + 1
    per_iteration = blocks * (2 * mul + len(layout.row_sum_steps()) * rot) + fold * rot
    return TrainingPlan(
        kind="ridge", features=features, max_rows=max_rows, mode=mode, preset=name,
        iterations=iterations, depth=estimator.required_depth(), refresh_every=None,
        rotation_steps=steps,
        bundle_bytes=_bundle_bytes(name, steps),
        seconds=round((blocks * plain + (iterations - 1) * per_iteration * _LEVEL_DISCOUNT)
                      / 1000.0, 1),
        encrypt_seconds_per_1000_rows=_encrypt_seconds(name, layout),
    )


def _bundle_bytes(name: str, steps: list[int]) -> int:
    """Galois keys plus relinearisation key, plus the public key (a tenth of a key)."""
    return (len(steps) + 1) * _KEY_BYTES[name] + _KEY_BYTES[name] // 10


def _encrypt_seconds(name: str, layout: RowLayout) -> float:
    """Seconds a site spends encrypting 1000 rows (two packings per block)."""
    return round(2 * _COSTS_MS[name][3] * math.ceil(1000 / layout.rows_per_block) / 1000.0, 2)
