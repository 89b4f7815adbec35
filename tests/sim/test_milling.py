"""The simulated milling machine: reproducible, its failures follow the AI4I rules, its readings
look like the AI4I data and fit the schema inferred from it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hedge.data import Schema, load_ai4i
from hedge.data.sites import AI4I_LEAKS
from hedge.errors import ParameterError
from hedge.sim.milling import AI4I_RANGES, MODES, MillingMachine


def readings(n: int = 10_000, seed: int = 0, scale: float = 1.0) -> list:  # type: ignore[type-arg]
    machine = MillingMachine(seed=seed, failure_scale=scale)
    return [machine.step() for _ in range(n)]


def test_the_same_seed_gives_the_same_machine() -> None:
    assert readings(200, seed=3) == readings(200, seed=3)
    assert readings(200, seed=3) != readings(200, seed=4)


def test_failures_follow_the_ai4i_rules() -> None:
    rs = readings()
    for r in rs:
        power = r.torque * r.rotational_speed * 2 * math.pi / 60
        assert ("PWF" in r.failures) == (power < 3500 or power > 9000)
        assert ("HDF" in r.failures) == (r.process_temperature - r.air_temperature < 8.6
                                         and r.rotational_speed < 1380)
        limit = {"L": 11_000, "M": 12_000, "H": 13_000}[r.type]
        assert ("OSF" in r.failures) == (r.tool_wear * r.torque > limit)
        assert set(r.failures) <= set(MODES) and r.failure == bool(r.failures)
        assert "TWF" not in r.failures or 200 <= r.tool_wear <= 245
    assert [r.cycle for r in rs] == list(range(1, len(rs) + 1))


def test_readings_look_like_the_ai4i_data() -> None:
    rs = readings()
    share = np.mean([r.failure for r in rs])
    assert 0.02 < share < 0.05  # AI4I: 3.4 %
    assert all(any(m in r.failures for r in rs) for m in MODES)
    for name, mean, sd in (("air_temperature", 300.0, 2.0), ("torque", 40.0, 10.0),
                           ("rotational_speed", 1539.0, 179.0), ("tool_wear", 108.0, 64.0)):
        values = np.array([getattr(r, name) for r in rs])
        assert abs(values.mean() - mean) < 0.15 * sd * 10 and abs(values.std() - sd) < 0.3 * sd
    assert np.mean([r.type == "L" for r in rs]) == pytest.approx(0.5, abs=0.03)

    def random_failures(scale: float) -> int:
        return sum(m in ("TWF", "RNF") for r in readings(scale=scale) for m in r.failures)

    assert random_failures(0.0) == 0 < random_failures(1.0) < random_failures(3.0)


@pytest.mark.datasets
def test_readings_fit_a_schema_inferred_from_the_data() -> None:
    frame = load_ai4i().drop(columns=list(AI4I_LEAKS))
    schema = Schema.infer(frame, label="Machine failure")
    rows = pd.DataFrame([r.ai4i_row() for r in readings()])
    columns = {"air_temperature": "Air temperature [K]",
               "process_temperature": "Process temperature [K]",
               "rotational_speed": "Rotational speed [rpm]", "torque": "Torque [Nm]"}
    for name, column in columns.items():  # the data's own range, not only the schema's
        assert AI4I_RANGES[name] == (frame[column].min(), frame[column].max())
        assert frame[column].min() <= rows[column].min() <= rows[column].max() <= \
            frame[column].max(), column
    x = schema.features_matrix(rows)  # refuses any value out of range
    assert x.shape == (10_000, len(schema.columns)) and np.all(np.abs(x) <= 1.0)
    assert set(schema.label_vector(rows)) <= {0.0, 1.0}


def test_bad_failure_scale() -> None:
    for bad in (-1.0, float("nan")):
        with pytest.raises(ParameterError, match="failure_scale"):
            MillingMachine(failure_scale=bad)
