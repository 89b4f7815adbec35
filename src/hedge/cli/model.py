"""`hedge model export`: a released model in the formats users deploy (the 'export' extra).

`--format onnx` writes an ONNX model, `--format sklearn` a pickled scikit-learn pipeline; both
take the raw feature rows `hedge predict` takes and give its scores (`hedge.ml.export`)."""

from __future__ import annotations

import pickle
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hedge.cli._common import console
from hedge.errors import ParameterError
from hedge.files import write_atomic
from hedge.ml import LinearModel
from hedge.ml.export import check_onnx, to_onnx, to_pipeline

app = typer.Typer(help="Released models in the formats users deploy: ONNX, scikit-learn.",
                  no_args_is_help=True)


class Format(StrEnum):
    onnx = "onnx"
    sklearn = "sklearn"


class Precision(StrEnum):
    float32 = "float32"
    float64 = "float64"


@app.command("export")
def export(
    model: Annotated[Path, typer.Argument(help="A decrypted model (.json), as `hedge "
                                               "decrypt-model` or the owner's release writes.")],
    format: Annotated[Format, typer.Option("--format", help="onnx: an ONNX model (onnxruntime "
                                           "and others); sklearn: a pickled scikit-learn "
                                           "Pipeline.")],
    out: Annotated[Path, typer.Option("--out", help="The file to write.")],
    precision: Annotated[Precision, typer.Option(help="ONNX only: the numeric inputs' and the "
                                                 "scores' type.")] = Precision.float32,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Export a released model with its schema's scaling: it takes the raw rows `hedge
    predict` takes and gives the same scores (ONNX: checked on rows probing the schema before
    it is written)."""
    if out.resolve() == model.resolve():
        raise ParameterError(f"--out {out} would overwrite the model; choose another file")
    if out.exists() and not force:
        raise ParameterError(f"{out} exists: refusing to replace it; choose another --out, or "
                             "give --force")
    m = LinearModel.load(model)
    if format is Format.onnx:
        raw = to_onnx(m, precision.value)
        worst = check_onnx(raw, m, precision.value)
        detail = f"{precision.value}, scores within {worst:.1g} of hedge's on the probe rows"
    else:
        raw = pickle.dumps(to_pipeline(m), protocol=pickle.HIGHEST_PROTOCOL)
        detail = "a scikit-learn Pipeline; unpickle only files you trust"
    write_atomic(out, raw)
    console.print(f"{m.kind} model over {len(m.columns)} columns -> {out} ({format.value}: "
                  f"{detail})")
