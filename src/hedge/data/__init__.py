"""hedge.data — schemas, rolling-window features and dataset loaders, used by every layer."""

from hedge.data.datasets import (
    IDASH_SETS,
    datasets_dir,
    load_ai4i,
    load_cmapss,
    load_hr,
    load_idash,
)
from hedge.data.schema import Feature, Label, Schema
from hedge.data.sites import EXAMPLE_SETS, split_sites, write_sites
from hedge.data.windows import RollingWindows, Window, rolling_frame

__all__ = [
    "EXAMPLE_SETS",
    "IDASH_SETS",
    "Feature",
    "Label",
    "RollingWindows",
    "Schema",
    "Window",
    "datasets_dir",
    "load_ai4i",
    "load_cmapss",
    "load_hr",
    "load_idash",
    "rolling_frame",
    "split_sites",
    "write_sites",
]
