"""`hedge encrypt` refuses, before encrypting anything, penalties that are negative or not
finite, schema and plan files it cannot use, and labels the schema does not have; each refusal
names the option, the file or the column."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hedge.ckks import PublicBundle
from hedge.data import Schema
from hedge.errors import ParameterError, SchemaError
from hedge.ml import plan_training
from tests.cli.invoke import invoker

hedge = invoker()


@pytest.fixture
def site(tmp_path: Path, bundle: PublicBundle) -> Path:
    """A site's rows, the consortium's schema, a plan for the fast preset and its bundle."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.uniform(0, 10, 40), "b": rng.uniform(-5, 5, 40),
                          "y": rng.integers(0, 2, 40)})
    frame.to_csv(tmp_path / "rows.csv", index=False)
    Schema.infer(frame, label="y").save(tmp_path / "schema.json")
    plan = plan_training("logistic", 2, 1000, iterations=1)
    dataclasses.replace(plan, preset="fast", rotation_steps=[1]).save(tmp_path / "plan.json")
    bundle.save(tmp_path / "public.bundle")
    return tmp_path


def encrypt(site: Path, *extra: object, rows: str = "rows.csv") -> str:
    return hedge("encrypt", site / rows, "--schema", site / "schema.json", "--bundle",
                 site / "public.bundle", "--plan", site / "plan.json", "--out", site / "o.hed",
                 *extra)


def test_the_rows_encrypt_with_a_penalty_of_zero_or_more(site: Path) -> None:
    assert "encrypted 40 rows" in encrypt(site, "--l2", 0.5)


@pytest.mark.parametrize("l2", ["-1", "inf", "nan"])
def test_a_penalty_that_is_negative_or_not_finite_is_refused(site: Path, l2: str) -> None:
    with pytest.raises(ParameterError, match="--l2 must be a finite number"):
        encrypt(site, "--l2", l2)
    assert not (site / "o.hed").exists()


def test_a_schema_nested_too_deeply_is_refused_naming_the_file(site: Path) -> None:
    (site / "schema.json").write_text("[" * 100_000)
    with pytest.raises(SchemaError, match="nested too deeply") as refused:
        encrypt(site)
    assert str(site / "schema.json") in str(refused.value)


def test_a_plan_with_a_field_of_the_wrong_type_is_refused_naming_field_and_file(
        site: Path) -> None:
    body = json.loads((site / "plan.json").read_text())
    (site / "plan.json").write_text(json.dumps({**body, "max_rows": None}))
    with pytest.raises(SchemaError, match="field 'max_rows' is None") as refused:
        encrypt(site)
    assert str(site / "plan.json") in str(refused.value)


def test_a_label_value_the_schema_lacks_is_refused_naming_column_value_and_rows(
        site: Path) -> None:
    frame = pd.read_csv(site / "rows.csv")
    frame.loc[[3, 7], "y"] = 2  # would have been class 0
    frame.to_csv(site / "drift.csv", index=False)
    with pytest.raises(SchemaError, match=r"label 'y': 2 of 40 rows hold \[2\], neither 0 nor 1"):
        encrypt(site, rows="drift.csv")
    assert not (site / "o.hed").exists()


def test_a_number_no_float_can_hold_is_refused_naming_the_column(site: Path) -> None:
    frame = pd.read_csv(site / "rows.csv")
    frame["a"] = frame["a"].round().astype(int).astype(object)  # read back as Python ints
    frame.loc[5, "a"] = 10**400
    frame.to_csv(site / "huge.csv", index=False)
    with pytest.raises(SchemaError, match="'a' has non-numeric values"):
        encrypt(site, rows="huge.csv")
