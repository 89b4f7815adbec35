"""`hedge model export`: the exported files score the rows `hedge predict` scores as it does,
and its refusals name the file and what to do."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hedge.cli.main import app
from hedge.data import Schema
from hedge.errors import ParameterError, SchemaError
from hedge.ml import LinearModel
from hedge.ml.export import onnx_scores, score_tolerance
from tests.cli.invoke import invoker

hedge = invoker()


@pytest.fixture
def files(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path, LinearModel]:
    """model.json (logistic, over a numeric and a category feature) and rows.csv to score."""
    schema = Schema.from_dict({"version": 1, "features": [
        {"name": "Torque [Nm]", "kind": "numeric", "low": 3.8, "high": 76.6},
        {"name": "Type", "kind": "category", "categories": ["H", "L", "M"]}],
        "label": {"name": "y", "kind": "binary", "positive": 1}})
    model = LinearModel(schema.columns, 0.2, np.array([2.0, -0.5, 0.3, 0.1]), schema.to_dict())
    model.save(tmp_path / "model.json")
    pd.DataFrame({"Torque [Nm]": rng.uniform(0.0, 80.0, 50),
                  "Type": rng.choice(list("HLM"), 50)}).to_csv(tmp_path / "rows.csv",
                                                               index=False)
    return tmp_path / "model.json", tmp_path / "rows.csv", model


def predicted(model: Path, rows: Path, tmp_path: Path) -> np.ndarray:
    hedge("predict", model, rows, "--out", tmp_path / "predictions.csv")
    return pd.read_csv(tmp_path / "predictions.csv")["probability"].to_numpy()


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_the_onnx_file_scores_as_hedge_predict(files: tuple[Path, Path, LinearModel],
                                               tmp_path: Path, precision: str) -> None:
    model_file, rows, model = files
    out = hedge("model", "export", model_file, "--format", "onnx", "--precision", precision,
                "--out", tmp_path / "model.onnx")
    assert "model.onnx" in out.replace("\n", "") and "scores within" in out
    got = onnx_scores((tmp_path / "model.onnx").read_bytes(), pd.read_csv(rows), model,
                      precision)
    # `hedge predict` writes six decimals
    np.testing.assert_allclose(got, predicted(model_file, rows, tmp_path), rtol=0,
                               atol=score_tolerance(model, "float32") + 5e-7)


def test_the_sklearn_file_scores_as_hedge_predict(files: tuple[Path, Path, LinearModel],
                                                  tmp_path: Path) -> None:
    model_file, rows, _ = files
    hedge("model", "export", model_file, "--format", "sklearn", "--out", tmp_path / "m.pkl")
    pipeline = pickle.loads((tmp_path / "m.pkl").read_bytes())
    np.testing.assert_allclose(pipeline.predict_proba(pd.read_csv(rows))[:, 1],
                               predicted(model_file, rows, tmp_path), rtol=0, atol=5e-7)


def test_an_unknown_format_is_a_usage_error_naming_the_choices(
        files: tuple[Path, Path, LinearModel], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["model", "export", str(files[0]), "--format", "pmml",
                                      "--out", str(tmp_path / "m.pmml")], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "pmml" in result.output and "onnx" in result.output and "sklearn" in result.output
    assert not (tmp_path / "m.pmml").exists()


def test_an_unreadable_or_missing_model_file_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text("not json")
    with pytest.raises(SchemaError, match=r"model\.json is not valid JSON \(hedge model"):
        hedge("model", "export", tmp_path / "model.json", "--format", "onnx", "--out",
              tmp_path / "m.onnx")
    with pytest.raises(SchemaError, match=r"absent\.json does not exist"):
        hedge("model", "export", tmp_path / "absent.json", "--format", "onnx", "--out",
              tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_an_existing_output_is_replaced_only_with_force(files: tuple[Path, Path, LinearModel],
                                                         tmp_path: Path) -> None:
    model_file = files[0]
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep")
    with pytest.raises(ParameterError, match=r"m\.onnx exists.*--force"):
        hedge("model", "export", model_file, "--format", "onnx", "--out", out)
    assert out.read_bytes() == b"keep"
    hedge("model", "export", model_file, "--format", "onnx", "--out", out, "--force")
    assert out.read_bytes() != b"keep"
    with pytest.raises(ParameterError, match="would overwrite the model"):
        hedge("model", "export", model_file, "--format", "sklearn", "--out", model_file,
              "--force")
