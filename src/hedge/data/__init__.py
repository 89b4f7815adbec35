"""hedge.data — schemas and dataset loaders, used by every layer."""

from hedge.data.datasets import (
    IDASH_SETS,
    datasets_dir,
    load_ai4i,
    load_cmapss,
    load_hr,
    load_idash,
)
from hedge.data.schema import Feature, Label, Schema

__all__ = [
    "IDASH_SETS",
    "Feature",
    "Label",
    "Schema",
    "datasets_dir",
    "load_ai4i",
    "load_cmapss",
    "load_hr",
    "load_idash",
]
