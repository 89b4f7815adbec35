"""Dataset loaders parse the published files in shared/datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hedge.data import IDASH_SETS, datasets_dir, load_ai4i, load_cmapss, load_hr, load_idash
from hedge.errors import DatasetNotFoundError, SchemaError

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

EXPECTED_IDASH = {"edin": (1253, 9), "lbw": (189, 9), "nhanes3": (15649, 15), "pcs": (379, 9),
                  "uis": (575, 8)}


@pytest.mark.parametrize("name", IDASH_SETS)
def test_idash_sets_have_the_published_shapes(name: str) -> None:
    frame = load_idash(name)
    rows, features = EXPECTED_IDASH[name]  # the README gives rows x features
    assert frame.shape == (rows, features + 1)
    assert list(frame.columns)[-1] == "y" and set(frame["y"].unique()) <= {0, 1}


def test_unknown_idash_set() -> None:
    with pytest.raises(SchemaError, match="edin"):
        load_idash("nope")


def test_ai4i_matches_the_readme() -> None:
    frame = load_ai4i()
    assert frame.shape == (10000, 14)
    assert frame.columns[0] == "UDI"  # the byte-order mark is stripped
    assert int(frame["Machine failure"].sum()) == 339


def test_hr_has_1470_employees() -> None:
    frame = load_hr()
    assert frame.shape == (1470, 35) and frame.columns[0] == "Age"
    assert int((frame["Attrition"] == "Yes").sum()) == 237


def test_cmapss_remaining_useful_life() -> None:
    train, test = load_cmapss("FD001")
    assert len(train) == 20631 and train["unit"].nunique() == 100
    last = train.groupby("unit").tail(1)
    assert (last["RUL"] == 0).all()
    assert (train.groupby("unit")["RUL"].max() == train.groupby("unit")["cycle"].max() - 1).all()
    truth = np.loadtxt(datasets_dir() / "cmapss" / "RUL_FD001.txt")
    assert np.array_equal(test.groupby("unit").tail(1)["RUL"].to_numpy(), truth)


def test_missing_dataset_folder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("HEDGE_DATASETS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("hedge.data.datasets.__file__", str(tmp_path / "a" / "b" / "c" / "d.py"))
    with pytest.raises(DatasetNotFoundError, match="HEDGE_DATASETS"):
        datasets_dir()


def test_env_variable_points_to_the_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    real = datasets_dir()
    monkeypatch.setenv("HEDGE_DATASETS", str(real))
    assert datasets_dir() == real
