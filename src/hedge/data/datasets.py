"""Loaders for the public datasets in ``shared/datasets`` (parsed as published, no downloads).

The folder is found through ``HEDGE_DATASETS``, else ``../shared/datasets`` next to the project
checkout (or next to the current directory).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from hedge.errors import DatasetNotFoundError, SchemaError

__all__ = ["IDASH_SETS", "datasets_dir", "load_ai4i", "load_cmapss", "load_hr", "load_idash"]

IDASH_SETS = ("edin", "lbw", "nhanes3", "pcs", "uis")
_CMAPSS_SETTINGS = [f"setting{i}" for i in range(1, 4)]
_CMAPSS_SENSORS = [f"s{i}" for i in range(1, 22)]


def datasets_dir() -> Path:
    """The folder holding the public datasets, or `DatasetNotFoundError`."""
    env = os.environ.get("HEDGE_DATASETS")
    candidates = [Path(env)] if env else []
    project = Path(__file__).resolve().parents[3]  # src/hedge/data/datasets.py -> checkout
    candidates += [project.parent / "shared" / "datasets",
                   Path.cwd().parent / "shared" / "datasets"]
    for path in candidates:
        if (path / "README.md").exists():
            return path
    raise DatasetNotFoundError(
        "the public datasets were not found (looked in: "
        + ", ".join(str(p) for p in candidates)
        + "); set HEDGE_DATASETS to the folder that holds them"
    )


def _file(*parts: str) -> Path:
    path = datasets_dir().joinpath(*parts)
    if not path.exists():
        raise DatasetNotFoundError(f"{path} does not exist")
    return path


def load_idash(name: str) -> pd.DataFrame:
    """One of the iDASH 2017 sets (edin, lbw, nhanes3, pcs, uis): columns x1..xk and y (0/1)."""
    if name not in IDASH_SETS:
        raise SchemaError(f"unknown iDASH set {name!r}; choose one of {', '.join(IDASH_SETS)}")
    frame = pd.read_csv(_file("idash2017", f"{name}.txt"), header=0)
    frame.columns = [f"x{i}" for i in range(1, frame.shape[1])] + ["y"]
    return frame


def load_ai4i() -> pd.DataFrame:
    """AI4I 2020 predictive maintenance (10,000 rows; label ``Machine failure``)."""
    return pd.read_csv(_file("ai4i2020.csv"), encoding="utf-8-sig")


def load_hr() -> pd.DataFrame:
    """IBM HR Analytics attrition data (1,470 employees)."""
    return pd.read_csv(_file("ibm_hr_attrition.csv"), encoding="utf-8-sig")


def load_cmapss(subset: str = "FD001") -> tuple[pd.DataFrame, pd.DataFrame]:
    """NASA C-MAPSS: (train, test) frames with unit, cycle, settings, sensors and ``RUL``.

    Train RUL is cycles to the unit's last cycle; test RUL adds the published ``RUL_<subset>``."""
    columns = ["unit", "cycle", *_CMAPSS_SETTINGS, *_CMAPSS_SENSORS]

    def read(kind: str) -> pd.DataFrame:
        frame = pd.read_csv(_file("cmapss", f"{kind}_{subset}.txt"), sep=r"\s+", header=None)
        if frame.shape[1] != len(columns):
            raise SchemaError(f"{kind}_{subset}.txt has {frame.shape[1]} columns, "
                              f"expected {len(columns)}")
        frame.columns = columns
        return frame

    train, test = read("train"), read("test")
    train["RUL"] = train.groupby("unit")["cycle"].transform("max") - train["cycle"]
    final = np.loadtxt(_file("cmapss", f"RUL_{subset}.txt"), ndmin=1)
    if final.size != test["unit"].nunique():
        raise SchemaError(f"RUL_{subset}.txt has {final.size} values for "
                          f"{test['unit'].nunique()} test units")
    last = test.groupby("unit")["cycle"].transform("max")
    test["RUL"] = last - test["cycle"] + final[test["unit"].to_numpy() - 1]
    return train, test
