"""Schemas: inference, scaling to [-1, 1], categories, labels, drift and malformed input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hedge.data import Feature, Label, Schema, Window, load_ai4i
from hedge.errors import SchemaError


def frame() -> pd.DataFrame:
    return pd.DataFrame({"t": [10.0, 20.0, 30.0], "kind": ["L", "M", "L"], "id": ["a", "b", "c"],
                         "y": [0, 1, 1]})


def test_infer_scales_numeric_features_to_unit_range() -> None:
    schema = Schema.infer(frame(), label="y", exclude=["id"])
    assert schema.columns == ["t", "kind=L", "kind=M"]
    assert schema.features[0] == Feature("t", "numeric", 9.0, 31.0)  # not the exact extremes
    x = schema.features_matrix(frame())
    assert np.allclose(x[:, 0], [-10 / 11, 0.0, 10 / 11])
    assert np.array_equal(x[:, 1:], [[1, 0], [0, 1], [1, 0]])
    assert schema.label == Label("y", "binary", positive=1)
    assert np.array_equal(schema.label_vector(frame()), [0.0, 1.0, 1.0])


def test_infer_with_margin_and_continuous_label() -> None:
    data = pd.DataFrame({"a": [0.0, 5.0, 10.0], "rul": [5.0, 60.0, 125.0]})
    schema = Schema.infer(data, label="rul", margin=0.1)
    assert schema.features[0] == Feature("a", "numeric", -1.0, 11.0)  # widened, 2 digits
    assert schema.label is not None and schema.label.kind == "continuous"
    assert (schema.label.low, schema.label.high) == (0.0, 130.0)  # rounded outward


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=20),
       st.sampled_from([0.0, 0.05]))
def test_inferred_ranges_lie_beyond_the_data_by_half_a_step_to_a_step_and_a_half(
        values: list[float], margin: float) -> None:
    """The schema travels in clear: an inferred range is at least half a grid step (two
    significant digits of the span) beyond the data's extremes, and at most 1.5 steps beyond
    the widened ones."""
    low, high = min(values), max(values)
    assume(high - low > 1e-3 * max(1.0, abs(low), abs(high)) and len(set(values)) > 2)
    feature = Schema.infer(pd.DataFrame({"a": values}), margin=margin).features[0]
    assert feature.low is not None and feature.high is not None
    span = high - low
    step = 10.0 ** (math.floor(math.log10(span)) - 1)
    tolerance = 1e-9 * max(1.0, abs(low), abs(high))
    assert step / 2 - tolerance <= low - feature.low <= margin * span + 1.5 * step + tolerance
    assert step / 2 - tolerance <= feature.high - high <= margin * span + 1.5 * step + tolerance


def test_a_0_1_indicator_keeps_its_range_and_other_columns_are_widened() -> None:
    """[0, 1] tells nothing about an indicator (widening it would only shrink its scaled
    values and the margins a model has); any other column, two-valued too, is widened."""
    schema = Schema.infer(pd.DataFrame({"flag": [0, 1, 1, 0], "x": [2.0, 3.0, 3.0, 9.0],
                                        "setpoint": [50.0, 60.0, 60.0, 50.0]}))
    assert schema.features[0] == Feature("flag", "numeric", 0.0, 1.0)
    assert schema.features[1] == Feature("x", "numeric", 1.9, 9.1)
    assert schema.features[2] == Feature("setpoint", "numeric", 49.0, 61.0)  # not 0/1


def test_json_round_trip(tmp_path: Path) -> None:
    schema = Schema.infer(frame(), label="y", exclude=["id"])
    path = tmp_path / "schema.json"
    schema.save(path)
    assert Schema.load(path) == schema


def test_drift_outside_the_declared_range_is_an_error_or_clipped() -> None:
    schema = Schema((Feature("t", "numeric", 10.0, 20.0),))
    data = pd.DataFrame({"t": [15.0, 25.0]})
    with pytest.raises(SchemaError, match="schema drift"):
        schema.features_matrix(data)
    assert np.allclose(schema.features_matrix(data, out_of_range="clip")[:, 0], [0.0, 1.0])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame({"other": [1.0]}), "lacks column"),
        (pd.DataFrame({"t": [np.nan]}), "missing or infinite"),
        (pd.DataFrame({"t": ["warm"]}), "non-numeric"),
    ],
)
def test_bad_data_is_refused(data: pd.DataFrame, message: str) -> None:
    schema = Schema((Feature("t", "numeric", 0.0, 1.0),))
    with pytest.raises(SchemaError, match=message):
        schema.features_matrix(data)


def test_unknown_category_is_refused() -> None:
    schema = Schema((Feature("kind", "category", categories=("L", "M")),))
    with pytest.raises(SchemaError, match="'H'"):
        schema.features_matrix(pd.DataFrame({"kind": ["L", "H"]}))


def test_constant_feature_scales_to_zero() -> None:
    schema = Schema((Feature("c", "numeric", 3.0, 3.0),))
    assert np.array_equal(schema.features_matrix(pd.DataFrame({"c": [3.0, 3.0]}))[:, 0], [0, 0])


@pytest.mark.parametrize(
    "bad",
    [
        {"version": 2, "features": []},
        {"version": 1},
        {"version": 1, "features": [{"name": "a", "low": 2, "high": 1}]},
        {"version": 1, "features": [{"name": "a", "kind": "weird"}]},
        {"version": 1, "features": [{"name": "a"}, {"name": "a"}]},
        {"version": 1, "features": [{"name": "a"}], "label": {"name": "a"}},
        {"version": 1, "features": "nope"},
    ],
)
def test_malformed_schemas(bad: dict[str, object]) -> None:
    with pytest.raises(SchemaError):
        Schema.from_dict(bad)


def test_schema_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        Schema.load(path)


def test_inference_refuses_identifier_columns_and_unknown_names() -> None:
    ids = pd.DataFrame({"serial": [f"S{i}" for i in range(100)], "y": [0, 1] * 50})
    with pytest.raises(SchemaError, match="exclude it"):
        Schema.infer(ids, label="y")
    with pytest.raises(SchemaError, match="no such column"):
        Schema.infer(frame(), label="y", exclude=["missing"])
    with pytest.raises(SchemaError, match="not in the data"):
        Schema.infer(frame(), label="missing")


@pytest.mark.datasets
def test_ai4i_schema_for_predictive_maintenance() -> None:
    data = load_ai4i()
    leaks = ["UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"]
    schema = Schema.infer(data, label="Machine failure", exclude=leaks)
    x = schema.features_matrix(data)
    assert x.shape == (10000, 8)  # Type as H/L/M indicators, then 5 numeric features
    assert schema.columns[:3] == ["Type=H", "Type=L", "Type=M"]
    assert np.array_equal(x[:, :3].sum(axis=1), np.ones(10000))
    # inferred ranges are rounded outward: the data fill most of [-1, 1] but not its ends
    assert np.all(x[:, 3:].min(axis=0) >= -1) and np.all(x[:, 3:].max(axis=0) <= 1)
    assert np.all(x[:, 3:].max(axis=0) - x[:, 3:].min(axis=0) > 1.6)
    assert schema.label_vector(data).sum() == 339


def test_label_inference_never_flips_the_positive_class() -> None:
    no_failures = pd.DataFrame({"t": [1.0, 2.0, 3.0], "failure": [0, 0, 0]})
    label = Schema.infer(no_failures, label="failure").label
    assert label is not None and label.positive == 1  # a site without failures yet
    coded = pd.DataFrame({"t": [1.0, 2.0, 3.0], "y": [1, 2, 2]})
    label = Schema.infer(coded, label="y").label
    assert label is not None and (label.kind, label.positive) == ("binary", 2)
    single = pd.DataFrame({"t": [1.0, 2.0], "y": ["ok", "ok"]})
    with pytest.raises(SchemaError, match="name the positive class"):
        Schema.infer(single, label="y")
    assert Schema.infer(single, label="y", positive="fail").label == Label("y", "binary", "fail",
                                                                         negative="ok")


def test_label_drift_is_refused() -> None:
    schema = Schema.infer(pd.DataFrame({"t": [1.0, 2.0], "y": [0, 1]}), label="y")
    with pytest.raises(SchemaError, match="label drift"):
        schema.label_vector(pd.DataFrame({"t": [1.0, 2.0, 3.0], "y": [0, 1, 2]}))
    rul = Schema.infer(pd.DataFrame({"t": [1.0, 2.0, 3.0], "r": [0.0, 50.0, 100.0]}), label="r")
    with pytest.raises(SchemaError, match="far outside"):
        rul.label_vector(pd.DataFrame({"t": [1.0], "r": [5000.0]}))


def test_measured_and_derived_split_a_windowed_schema() -> None:
    frame = pd.DataFrame({"t": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    windowed = Schema.infer(frame, label="y", windows=(Window("t", 2, ("mean",)),))
    measured, derived = windowed.measured(), windowed.derived()
    assert [f.name for f in measured.features] == ["t"] and measured.label == windowed.label
    assert [f.name for f in derived.features] == ["t mean2"] and derived.label is None
    assert measured.windows == derived.windows == ()
    plain = Schema.infer(frame, label="y")
    assert plain.measured() is plain
    with pytest.raises(SchemaError, match="no windows"):
        plain.derived()


def test_a_schema_file_nested_too_deeply_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text("[" * 100_000)
    with pytest.raises(SchemaError, match="nested too deeply") as refused:
        Schema.load(path)
    assert str(path) in str(refused.value)


def test_a_malformed_schema_file_is_named_in_the_refusal(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"version": 1, "features": [{"name": "t", "low": 10**400}]}))
    with pytest.raises(SchemaError, match="malformed schema") as refused:
        Schema.load(path)  # a number JSON holds but no float can
    assert str(path) in str(refused.value)


def test_a_value_no_float_can_hold_is_refused_as_non_numeric() -> None:
    schema = Schema((Feature("t", "numeric", 0.0, 1.0),))
    with pytest.raises(SchemaError, match="'t' has non-numeric values"):
        schema.features_matrix(pd.DataFrame({"t": [0.5, 10**400]}, dtype=object))


@pytest.mark.parametrize(("values", "bad", "count"), [
    ([0, 1, 2, 1], "[2]", "1 of 4 rows"),  # a third value would silently be class 0
    ([0, 2, 5, 2], "[2, 5]", "3 of 4 rows"),
    ([0, 1, "1"], "['1']", "1 of 3 rows"),  # text is not the number
    ([0, [1], {"a": 1}], "[[1], {'a': 1}]", "2 of 3 rows"),
    ([0, 10**400], "[1" + "0" * 36 + "...]", "1 of 2 rows"),  # long values cut short
])
def test_binary_label_values_the_schema_lacks_are_refused(values: list[object], bad: str,
                                                          count: str) -> None:
    schema = Schema.infer(pd.DataFrame({"t": [1.0, 2.0], "y": [0, 1]}), label="y")
    data = pd.DataFrame({"t": [1.5] * len(values), "y": pd.Series(values, dtype=object)})
    with pytest.raises(SchemaError, match="label drift") as refused:
        schema.label_vector(data)
    message = str(refused.value)
    assert "'y'" in message and bad in message and count in message
    assert "neither 0 nor 1" in message
    with pytest.raises(SchemaError, match="2 of 3 rows"):  # missing values, counted too
        schema.label_vector(pd.DataFrame({"t": [1.0] * 3, "y": [0, None, np.nan]}))


def test_the_negative_label_value_is_inferred_kept_and_enforced(tmp_path: Path) -> None:
    coded = Schema.infer(pd.DataFrame({"t": [1.0, 2.0, 3.0], "y": ["ok", "fail", "ok"]}),
                         label="y", positive="fail")
    assert coded.label == Label("y", "binary", "fail", negative="ok")
    coded.save(tmp_path / "schema.json")
    assert Schema.load(tmp_path / "schema.json") == coded
    assert json.loads((tmp_path / "schema.json").read_text())["label"]["negative"] == "ok"
    good = pd.DataFrame({"t": [1.0, 2.0], "y": ["fail", "ok"]})
    assert list(coded.label_vector(good)) == [1.0, 0.0]
    with pytest.raises(SchemaError, match=r"1 of 2 rows.*\['warn'\].*neither 'ok' nor 'fail'"):
        coded.label_vector(pd.DataFrame({"t": [1.0, 2.0], "y": ["warn", "ok"]}))
    # 0/1 labels need no negative value in the file: 0 is implied by the positive 1
    plain = Schema.infer(pd.DataFrame({"t": [1.0, 2.0], "y": [0, 1]}), label="y")
    assert "negative" not in plain.to_dict()["label"]
    with pytest.raises(SchemaError, match="not among"):
        Schema.infer(pd.DataFrame({"t": [1.0, 2.0], "y": ["ok", "warn"]}), label="y",
                     positive="fail")
    with pytest.raises(SchemaError, match="the same value"):
        Schema.from_dict({"version": 1, "features": [{"name": "t"}],
                          "label": {"name": "y", "positive": "a", "negative": "a"}})


def test_a_label_without_its_negative_value_holds_at_most_one_other_value() -> None:
    # a schema written before the label's negative value was recorded: any single value
    # besides the positive one is the negative class, two are label drift
    legacy = Schema.from_dict({"version": 1, "features": [{"name": "t"}],
                               "label": {"name": "y", "kind": "binary", "positive": "fail"}})
    ok = pd.DataFrame({"t": [0.5, 0.5, 0.5], "y": ["fail", "ok", "ok"]})
    assert list(legacy.label_vector(ok)) == [1.0, 0.0, 0.0]
    with pytest.raises(SchemaError, match="label drift"):
        legacy.label_vector(pd.DataFrame({"t": [0.5] * 3, "y": ["fail", "ok", "warn"]}))


@pytest.mark.parametrize(("change", "says"), [
    ({"features": [{"name": "a", "kind": "category", "categories": "abc"}]}, "must be a list"),
    ({"features": [{"name": ["a"], "low": 0, "high": 1}]}, "non-empty text"),
    ({"features": [{"name": "a", "kind": "weird"}]}, "unknown kind"),
    ({"features": [{"name": "a", "low": "0", "high": 1}]}, "must be a number"),
    ({"features": [{"name": "a", "low": True, "high": 1}]}, "must be a number"),
    ({"features": [{"name": "a", "low": 0, "high": 10**400}]}, "finite number"),
    ({"features": [{"name": "a", "kind": "category", "categories": [1, 2]}]}, "texts"),
    ({"label": {"name": "y", "kind": "weird"}}, "label kind"),
    ({"label": ["y"]}, "must be an object"),
    ({"features": "a"}, "must be a list"),
])
def test_a_schema_file_s_fields_need_their_exact_types(change: dict[str, object],
                                                       says: str) -> None:
    """Nothing in a schema file from another party is converted silently ('abc' is no list
    of three categories, ['a'] no name): `SchemaError` naming the field."""
    body = {"version": 1, "features": [{"name": "a", "low": 0.0, "high": 1.0}]} | change
    with pytest.raises(SchemaError, match=says):
        Schema.from_dict(body)
