"""The encrypted-learning command-line flow, end to end, and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from hedge.audit import verify_log
from hedge.ckks import KeySet
from hedge.ckks.release import DEFAULT_ERROR_BOUND, DEFAULT_MAX_RELEASES
from hedge.cli.main import app
from hedge.data import load_idash
from hedge.errors import (
    HedgeError,
    KeyMismatchError,
    SchemaError,
    SecretMaterialError,
    WrongPassphraseError,
)
from hedge.ml import LinearModel
from tests.cli.invoke import invoker

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

runner = CliRunner()
ENV = {"HEDGE_PASSPHRASE": "correct horse", "COLUMNS": "200"}


hedge = invoker(ENV)


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sites of the Edinburgh data through plan, keys, schema, encrypt, train, decrypt."""
    d = tmp_path_factory.mktemp("flow")
    frame = load_idash("edin")
    frame.iloc[:600].to_csv(d / "site-a.csv", index=False)
    frame.iloc[600:].to_csv(d / "site-b.csv", index=False)
    hedge("plan", "logistic", "--features", 9, "--max-rows", 2000, "--out", d / "plan.json")
    hedge("keys", "init", "--plan", d / "plan.json", "--out", d / "owner")
    hedge("schema", "infer", d / "site-a.csv", "--label", "y", "--out", d / "schema.json")
    for site in ("site-a", "site-b"):
        hedge("encrypt", d / f"{site}.csv", "--schema", d / "schema.json", "--bundle",
              d / "owner" / "public.bundle", "--plan", d / "plan.json", "--out",
              d / f"{site}.hed")
    hedge("train", d / "site-a.hed", d / "site-b.hed", "--bundle", d / "owner" / "public.bundle",
          "--plan", d / "plan.json", "--out", d / "model.hem")
    hedge("decrypt-model", d / "model.hem", "--keys", d / "owner" / "keys.hks", "--out",
          d / "model.json")
    return d


def test_flow_produces_a_useful_model_and_one_prediction_per_row(flow: Path) -> None:
    hedge("predict", flow / "model.json", flow / "site-b.csv", "--out", flow / "pred.csv")
    predictions = pd.read_csv(flow / "pred.csv")
    labels = pd.read_csv(flow / "site-b.csv")["y"]
    assert len(predictions) == len(labels) and list(predictions.columns) == ["probability"]
    assert predictions["probability"].between(0, 1).all()
    assert roc_auc_score(labels, predictions["probability"]) > 0.94
    keys = KeySet.load(flow / "owner" / "keys.hks", passphrase="correct horse")
    assert keys.releases_used == 1  # the model release was counted and saved
    audited = [(e.event, e.job) for e in verify_log(flow / "owner" / "audit.jsonl")]
    assert audited == [("release-counted", "model.hem"), ("release-model", "model.hem")]


def test_train_refuses_secret_key_material(flow: Path) -> None:
    keystore = flow / "owner" / "keys.hks"
    with pytest.raises(SecretMaterialError, match="keystore"):
        hedge("train", flow / "site-a.hed", "--bundle", keystore, "--out", flow / "x.hem")
    with pytest.raises(SecretMaterialError):
        hedge("train", keystore, "--bundle", flow / "owner" / "public.bundle", "--out",
              flow / "x.hem")
    assert not (flow / "x.hem").exists()


def test_bad_inputs_give_clear_errors(flow: Path, tmp_path: Path) -> None:
    bundle = flow / "owner" / "public.bundle"
    broken = pd.read_csv(flow / "site-a.csv")
    broken.loc[3, "x2"] = np.nan
    broken.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(SchemaError, match="missing or infinite"):
        hedge("encrypt", tmp_path / "nan.csv", "--schema", flow / "schema.json", "--bundle",
              bundle, "--plan", flow / "plan.json", "--out", tmp_path / "nan.hed")
    pd.read_csv(flow / "site-a.csv").drop(columns="x3").to_csv(tmp_path / "drift.csv",
                                                                index=False)
    with pytest.raises(SchemaError, match="lacks column"):
        hedge("encrypt", tmp_path / "drift.csv", "--schema", flow / "schema.json", "--bundle",
              bundle, "--plan", flow / "plan.json", "--out", tmp_path / "drift.hed")
    hedge("plan", "logistic", "--features", 5, "--max-rows", 100, "--out", tmp_path / "p5.json")
    with pytest.raises(SchemaError, match="--features 9"):
        hedge("encrypt", flow / "site-a.csv", "--schema", flow / "schema.json", "--bundle",
              bundle, "--plan", tmp_path / "p5.json", "--out", tmp_path / "x.hed")
    other = KeySet.generate("standard", rotations=[1])
    other.public().save(tmp_path / "other.bundle")
    with pytest.raises(KeyMismatchError):
        hedge("train", flow / "site-a.hed", "--bundle", tmp_path / "other.bundle", "--out",
              tmp_path / "x.hem")
    with pytest.raises(WrongPassphraseError):
        hedge("decrypt-model", flow / "model.hem", "--keys", flow / "owner" / "keys.hks",
              "--out", tmp_path / "m.json", env={"HEDGE_PASSPHRASE": "wrong"})
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(HedgeError):
        hedge("predict", tmp_path / "junk.json", flow / "site-b.csv", "--out", tmp_path / "p.csv")


def test_train_refuses_a_plan_for_another_number_of_features(flow: Path, tmp_path: Path) -> None:
    """The datasets carry the schema's columns: `train --plan` refuses a plan that does not
    fit them before any work (the same preset, so only the count differs)."""
    hedge("plan", "logistic", "--features", 8, "--max-rows", 2000, "--out", tmp_path / "p8.json")
    with pytest.raises(SchemaError, match=r"plan is for 8 features.*have 9.*--features 9"):
        hedge("train", flow / "site-a.hed", "--bundle", flow / "owner" / "public.bundle",
              "--plan", tmp_path / "p8.json", "--out", tmp_path / "x.hem")
    assert not (tmp_path / "x.hem").exists()


@pytest.mark.parametrize("group", ["plan", "keys", "schema"])
def test_command_groups_have_help(group: str) -> None:
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_ridge_flow_predicts_remaining_useful_life(tmp_path: Path) -> None:
    from hedge.data import load_cmapss

    train, _ = load_cmapss("FD001")
    sensors = ["s2", "s3", "s4", "s7", "s11", "s12", "s15", "s20"]
    frame = train[train["unit"] <= 10][[*sensors, "RUL"]].copy()
    frame["RUL"] = frame["RUL"].clip(upper=125)
    frame.to_csv(tmp_path / "engines.csv", index=False)
    d = tmp_path
    hedge("plan", "ridge", "--features", 8, "--max-rows", 5000, "--out", d / "plan.json")
    hedge("keys", "init", "--plan", d / "plan.json", "--out", d / "owner")
    hedge("schema", "infer", d / "engines.csv", "--label", "RUL", "--out", d / "schema.json")
    hedge("encrypt", d / "engines.csv", "--schema", d / "schema.json", "--bundle",
          d / "owner" / "public.bundle", "--plan", d / "plan.json", "--out", d / "e.hed")
    hedge("train", d / "e.hed", "--bundle", d / "owner" / "public.bundle", "--plan",
          d / "plan.json", "--out", d / "model.hem")
    hedge("decrypt-model", d / "model.hem", "--keys", d / "owner" / "keys.hks", "--out",
          d / "model.json")
    hedge("predict", d / "model.json", d / "engines.csv", "--out", d / "rul.csv")
    predicted = pd.read_csv(d / "rul.csv")["prediction"].to_numpy()
    from sklearn.linear_model import Ridge

    from hedge.data import Schema

    schema = Schema.load(d / "schema.json")
    x = schema.features_matrix(frame)
    reference = Ridge(alpha=1.0).fit(x, frame["RUL"]).predict(x)
    # The only difference is the release's flooding noise on the 9 weights (sigma each, in
    # scaled label units); a row's prediction moves by sigma * sqrt(1 + |x_i|^2) on average.
    label = schema.label
    assert label is not None
    sigma = DEFAULT_ERROR_BOUND * np.sqrt(DEFAULT_MAX_RELEASES * 9)
    expected = sigma * np.sqrt(np.mean(1.0 + (x**2).sum(axis=1))) * (label.high - label.low) / 2
    assert np.sqrt(np.mean((predicted - reference) ** 2)) < 4.0 * expected
    with pytest.raises(SchemaError, match="classification"):
        hedge("plan", "logistic", "--features", 8, "--max-rows", 5000, "--out", d / "lp.json")
        hedge("train", d / "e.hed", "--bundle", d / "owner" / "public.bundle", "--plan",
              d / "lp.json", "--out", d / "x.hem")


def test_keys_init_never_replaces_existing_keys(flow: Path) -> None:
    before = (flow / "owner" / "keys.hks").read_bytes()
    with pytest.raises(HedgeError, match="refusing to replace"):
        hedge("keys", "init", "--plan", flow / "plan.json", "--out", flow / "owner")
    assert (flow / "owner" / "keys.hks").read_bytes() == before


def test_predict_refuses_to_overwrite_its_input(flow: Path) -> None:
    with pytest.raises(HedgeError, match="overwrite an input"):
        hedge("predict", flow / "model.json", flow / "site-b.csv", "--out", flow / "site-b.csv")
    assert len(pd.read_csv(flow / "site-b.csv")) == 653


def test_assisted_training_through_a_real_key_service(flow: Path, tmp_path: Path) -> None:
    from hedge.owner import AuditLog, KeyService
    from hedge.owner.http import create_app
    from hedge.wire.keyservice_client import HttpRefreshClient
    from tests.owner.conftest import serve

    keys = KeySet.load(flow / "owner" / "keys.hks", passphrase="correct horse")
    token, admin_token = "cloud-token-0123456789", "owner-token-0123456789"
    audit = AuditLog(tmp_path / "audit.log")
    app = create_app(KeyService(keys, audit), token, admin_token=admin_token)
    with serve(app) as url:
        with HttpRefreshClient(url, admin_token) as owner:
            owner.register_job("edin-1", 10, 10, 4)
        env = {**ENV, "HEDGE_KEY_SERVICE_TOKEN": token}
        hedge("plan", "logistic", "--features", 9, "--max-rows", 2000, "--mode", "assisted",
              "--out", tmp_path / "assisted.json")
        hedge("train", flow / "site-a.hed", flow / "site-b.hed", "--bundle",
              flow / "owner" / "public.bundle", "--plan", tmp_path / "assisted.json",
              "--mode", "assisted", "--key-service", url, "--job", "edin-1", "--out",
              tmp_path / "assisted.hem", env=env)
        with pytest.raises(HedgeError, match="404"):
            hedge("train", flow / "site-a.hed", "--bundle", flow / "owner" / "public.bundle",
                  "--mode", "assisted", "--key-service", url, "--job", "unknown", "--out",
                  tmp_path / "never.hem", env=env)
    assert not (tmp_path / "never.hem").exists()
    events = [e.event for e in audit.entries()]
    assert events.count("refresh") >= 2  # 4 iterations: refreshes before iterations 3 and 4
    hedge("decrypt-model", tmp_path / "assisted.hem", "--keys", flow / "owner" / "keys.hks",
          "--out", tmp_path / "assisted.json.model")
    model = LinearModel.load(tmp_path / "assisted.json.model")
    frame = pd.read_csv(flow / "site-b.csv")
    assert roc_auc_score(frame["y"], model.predict_frame(frame)) > 0.94


def test_column_names_with_brackets_are_printed_as_they_are(tmp_path: Path) -> None:
    """Units in brackets ("[min]", "[rpm]") are names, not console markup."""
    pd.DataFrame({"Rotational speed [rpm]": [1500.0, 1600.0, 1700.0],
                  "Tool wear [min]": [0.0, 100.0, 200.0]}).to_csv(tmp_path / "m.csv", index=False)
    said = hedge("schema", "infer", tmp_path / "m.csv", "--label", "Tool wear [min]", "--out",
                 tmp_path / "schema.json")
    assert "label 'Tool wear [min]'" in said
