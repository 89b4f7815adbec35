"""The dataset file (an upload): a typed dataset (`hedge.ml.dataset`, which writes its header
and builds itself from what `read` returns) as an artifact of kind DATASET
(`hedge.ml.artifact`), format 2.

Header, in clear: `columns` (the bias first), `site_rows`, `schema`, `task`, `class_weight`
(classification), and the counts of the per-site vectors (`blocks`, `solutions`, `penalties`,
`statistics`); then one record per encrypted vector, by role: the `blocks` doubled blocks, as
many preconditioned ones, the Gram matrix, the `solutions`, the `penalties` doubled and as many
preconditioned penalty blocks, the statistics if any. Format 1 (before hedge wrote one record
per vector) nested every vector in one record: such a file is refused, saying so.
"""

from __future__ import annotations

from typing import Any

from hedge.ckks import PublicBundle, container
from hedge.ml.artifact import ArtifactFormat, ArtifactKind, Role
from hedge.ml.layout import RowLayout
from hedge.ml.rows import BIAS

__all__ = ["DATASET_FILE", "read"]

DATASET_FILE = ArtifactFormat(
    ArtifactKind.DATASET, "dataset",
    (Role(1, "doubled", "blocks"), Role(2, "preconditioned", "blocks"), Role(3, "gram"),
     Role(4, "solutions", "solutions"), Role(5, "penalty_doubled", "penalties"),
     Role(6, "penalty_preconditioned", "penalties"), Role(7, "statistics", "statistics")),
    "this dataset was encrypted under another key set; use the consortium's bundle it was "
    "made with", version=2,
    remake="encrypt the site's rows again with this hedge (hedge encrypt, or the edge agent's "
           "next upload)")
_MAX_ROWS = 1 << 32


def read(raw: bytes, bundle: PublicBundle) -> tuple[str, dict[str, Any]]:
    """A dataset upload's task and the fields of its typed dataset, checked:
    `KeyMismatchError` if it was encrypted under another key set, `CorruptDataError` naming
    the field for anything malformed.

    The header is checked before any ciphertext is parsed, each field with its exact JSON
    type: `columns` 1 to slots / 2 distinct non-empty names (at most 1024 characters), the bias
    column first; `site_rows` 1 to `blocks` row counts, each in [1, 2^32]; `blocks`,
    `solutions` and `penalties` integers; `statistics` a boolean; `task`, `class_weight` and
    `schema` as `to_bytes` writes them. The declared rows must take exactly the declared blocks
    (one site of n rows: `layout.blocks(n)`; several: the sum over the sites, each at least one
    block), and the file must hold exactly the vectors the header implies (`DATASET_FILE`),
    which the typed dataset then checks for the lengths of their roles."""
    reader = DATASET_FILE.open(raw, bundle)
    fields = reader.fields
    slots = bundle.params.slot_count
    columns = fields.strings("columns", min_items=2, max_items=slots // 2, max_length=1024,
                             distinct=True)
    if columns[0] != BIAS:
        raise fields.fail("columns", f"a list of column names starting with {BIAS!r}")
    layout = RowLayout(len(columns), slots)
    blocks = fields.integer("blocks", 1, container.MAX_LENGTH)
    site_rows = fields.integers("site_rows", 1, _MAX_ROWS, min_items=1, max_items=1 << 20)
    sites = len(site_rows)
    task = fields.string("task", "classification", choices=("classification", "regression"))
    solutions = fields.integer("solutions", 0, sites, 0)
    penalties = fields.integer("penalties", 0, sites, 0)
    if solutions not in (0, sites) or (task == "regression") != (solutions == sites):
        raise fields.fail("solutions", f"{sites} (one per site) for regression, else 0")
    if penalties not in (0, sites) or (task == "regression" and penalties != sites):
        raise fields.fail("penalties", f"{sites} (one per site), or 0 for classification "
                                       "without an L2 penalty")
    stats = fields.boolean("statistics", False)
    schema = fields.optional_object("schema")
    weight = fields.string("class_weight", None, choices=(None, "balanced"))
    if task == "regression" and weight is not None:
        raise fields.fail("class_weight", "null for regression (a continuous label)")
    if sum(layout.blocks(n) for n in site_rows) != blocks:
        raise fields.fail("site_rows", f"row counts that take {blocks} block(s) of "
                                       f"{layout.rows_per_block} rows (the 'blocks' field)")
    v = reader.vectors({"doubled": blocks, "preconditioned": blocks, "gram": 1,
                        "solutions": solutions, "penalty_doubled": penalties,
                        "penalty_preconditioned": penalties, "statistics": int(stats)})
    dataset = {"bundle": bundle, "layout": layout, "columns": columns, "site_rows": site_rows,
               "doubled": v["doubled"], "preconditioned": v["preconditioned"],
               "gram": v["gram"][0], "penalty_doubled": v["penalty_doubled"],
               "penalty_preconditioned": v["penalty_preconditioned"],
               "statistics": v["statistics"][0] if stats else None, "schema": schema}
    if task == "regression":
        return task, {**dataset, "solutions": v["solutions"]}
    return task, {**dataset, "class_weight": weight}
