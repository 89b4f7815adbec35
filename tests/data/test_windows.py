"""Rolling-window features: statistics against numpy and pandas, batches against whole frames,
streams, partial windows, bounded state, refusals, and windows in schemas."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedge.data import Feature, Label, RollingWindows, Schema, Window, rolling_frame
from hedge.data.windows import MAX_SIZE, STATS
from hedge.errors import SchemaError

VALUES = [3.0, -1.0, 4.0, 1.5, 9.0, 2.6, -5.0, 3.5, 3.5, 0.25]


def reference(values: list[float], size: int) -> dict[str, list[float]]:
    """Each statistic over the last `size` values, one window at a time, with numpy."""
    out: dict[str, list[float]] = {s: [] for s in STATS}
    for i in range(len(values)):
        w = np.array(values[max(0, i + 1 - size):i + 1])
        out["mean"].append(float(np.mean(w)))
        out["std"].append(float(np.std(w)))
        out["min"].append(float(np.min(w)))
        out["max"].append(float(np.max(w)))
        out["slope"].append(float(np.polyfit(np.arange(len(w)), w, 1)[0]) if len(w) > 1 else 0.0)
        out["rms"].append(math.sqrt(float(np.mean(w**2))))
    return out


def rows(values: list[Any], column: str = "t") -> list[dict[str, Any]]:
    return [{column: v} for v in values]


def test_columns_are_named_after_source_statistic_and_size() -> None:
    window = Window("Torque [Nm]", 10, ("mean", "slope"))
    assert window.columns == ["Torque [Nm] mean10", "Torque [Nm] slope10"]
    assert RollingWindows([window, Window("n", 2, ("rms",))]).columns == [
        "Torque [Nm] mean10", "Torque [Nm] slope10", "n rms2"]


@pytest.mark.parametrize("size", [2, 4, 20])
def test_every_statistic_against_numpy_and_pandas(size: int) -> None:
    window = Window("t", size, STATS)
    out = RollingWindows([window]).apply(rows(VALUES), "m1")
    expected = reference(VALUES, size)
    for stat, column in zip(STATS, window.columns, strict=True):
        assert np.allclose([r[column] for r in out], expected[stat], rtol=1e-12, atol=1e-12), stat
    rolling = pd.Series(VALUES).rolling(size, min_periods=1)
    frame = rolling_frame(pd.DataFrame({"t": VALUES}), [window])
    assert np.allclose(frame[f"t mean{size}"], rolling.mean(), rtol=1e-12)
    assert np.allclose(frame[f"t std{size}"], rolling.std(ddof=0), rtol=1e-12, atol=1e-12)
    assert np.array_equal(frame[f"t min{size}"], rolling.min())
    assert np.array_equal(frame[f"t max{size}"], rolling.max())


def test_known_values_of_a_full_window() -> None:
    window = Window("t", 3, STATS)
    last = RollingWindows([window]).apply(rows([0.0, 100.0, 2.0, 4.0, 9.0]), "m")[-1]
    assert last["t mean3"] == pytest.approx(5.0)
    assert last["t std3"] == pytest.approx(math.sqrt(26 / 3))
    assert (last["t min3"], last["t max3"]) == (2.0, 9.0)
    assert last["t slope3"] == pytest.approx(3.5)  # (9 - 2) / 2 per sample
    assert last["t rms3"] == pytest.approx(math.sqrt((4 + 16 + 81) / 3))


def test_partial_windows_at_the_start_of_a_stream_and_after_reset() -> None:
    windows = RollingWindows([Window("t", 5, STATS)])
    first = windows.apply(rows([-2.0]), "m")[0]
    assert first == {"t": -2.0, "t mean5": -2.0, "t std5": 0.0, "t min5": -2.0, "t max5": -2.0,
                     "t slope5": 0.0, "t rms5": 2.0}
    second = windows.apply(rows([4.0]), "m")[0]
    assert (second["t mean5"], second["t std5"], second["t slope5"]) == (1.0, 3.0, 6.0)
    windows.reset("m")
    assert windows.apply(rows([-2.0]), "m")[0] == first
    windows.apply(rows([4.0]), "other")
    windows.reset()
    assert windows.apply(rows([-2.0]), "m")[0] == first
    windows.reset("never seen")  # no error


def test_restoring_a_snapshot_forgets_the_rows_applied_since() -> None:
    windows = RollingWindows([Window("t", 3, ("mean", "slope"))])
    windows.apply(rows([1.0, 2.0]), "m")
    saved = windows.snapshot()
    once = windows.apply(rows([7.0, 9.0]), "m")
    windows.apply(rows([100.0]), "other")
    windows.restore(saved)  # e.g. the rows were not committed and come again
    assert windows.apply(rows([7.0, 9.0]), "m") == once
    assert windows.apply(rows([5.0]), "other")[0]["t mean3"] == 5.0  # a new stream again


def test_streams_are_independent() -> None:
    window = Window("t", 3, ("mean", "slope"))
    a, b = [1.0, 2.0, 3.0, 4.0], [10.0, -10.0, 10.0, -10.0]
    both = RollingWindows([window])
    mixed = [both.apply(rows([x]), "a") + both.apply(rows([y]), "b")
             for x, y in zip(a, b, strict=True)]
    assert [m[0] for m in mixed] == RollingWindows([window]).apply(rows(a), "a")
    assert [m[1] for m in mixed] == RollingWindows([window]).apply(rows(b), "b")


def test_rows_are_copied_and_derived_columns_replaced() -> None:
    given_rows = [{"t": 1.0, "t mean2": "stale", "id": 7}]
    out = RollingWindows([Window("t", 2, ("mean",))]).apply(given_rows, "m")
    assert out == [{"t": 1.0, "t mean2": 1.0, "id": 7}]
    assert given_rows == [{"t": 1.0, "t mean2": "stale", "id": 7}]
    assert RollingWindows([Window("t", 2, ("mean",))]).apply([], "m") == []
    assert RollingWindows([]).apply(given_rows, "m") == given_rows


def test_state_is_bounded_to_size_minus_one_values_per_window() -> None:
    windows = RollingWindows([Window("t", 4, ("mean",)), Window("t", 2, ("max",))])
    values = [float(i) for i in range(1000)]
    for start in range(0, 1000, 37):
        windows.apply(rows(values[start:start + 37]), "m")
    kept = windows._history["m"]  # internal: what the instance holds for the stream
    assert [list(h) for h in kept] == [[997.0, 998.0, 999.0], [999.0]]
    assert all(h.base is None for h in kept)  # copies, not views into the last batch


@st.composite
def batches(draw: st.DrawFn) -> tuple[pd.DataFrame, list[list[int]]]:
    """A frame of interleaved streams and a split of its rows into single-stream batches."""
    n = draw(st.integers(0, 40))
    number = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    frame = pd.DataFrame({"stream": draw(st.lists(st.sampled_from("abc"), min_size=n,
                                                  max_size=n)),
                          "x": draw(st.lists(number, min_size=n, max_size=n)),
                          "y": draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))})
    cuts = draw(st.sets(st.integers(0, max(n - 1, 0))))
    split: list[list[int]] = []
    for i, stream in enumerate(frame["stream"]):
        if not split or i in cuts or frame["stream"][split[-1][0]] != stream:
            split.append([])
        split[-1].append(i)
    # batches of different streams may come in any order; those of one stream in row order
    order = draw(st.permutations(range(len(split))))
    by_stream: dict[str, list[list[int]]] = {}
    for batch in split:
        by_stream.setdefault(frame["stream"][batch[0]], []).append(batch)
    streams = [frame["stream"][split[k][0]] for k in order]
    return frame, [by_stream[s].pop(0) for s in streams]


@given(batches(), st.integers(2, 7))
def test_batches_agree_with_the_whole_frame(case: tuple[pd.DataFrame, list[list[int]]],
                                            size: int) -> None:
    frame, split = case
    windows = [Window("x", size, STATS), Window("y", 2, ("slope", "mean")),
               Window("x", size + 3, ("std", "rms"))]
    whole = rolling_frame(frame, windows, stream_column="stream")
    rolling = RollingWindows(windows)
    for batch in split:
        records = frame.iloc[batch].to_dict("records")
        out = pd.DataFrame(rolling.apply(records, frame["stream"][batch[0]]), index=batch)
        np.testing.assert_array_equal(out[rolling.columns].to_numpy(dtype=np.float64),
                                      whole.loc[batch, rolling.columns].to_numpy())


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.integers(129, 700), st.sampled_from([4097, 8193, MAX_SIZE])),
       st.lists(st.integers(1, 400), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_long_windows_give_the_same_bits_however_the_rows_are_split(
        size: int, cuts: list[int], seed: int) -> None:
    # beyond 128 values numpy sums pairwise, beyond 4096 and 8192 its iterator changes how it
    # hands rows to the sum: the same bits for a row wherever it lies, down to a 1-row batch
    x = np.random.default_rng(seed).normal(0, 1e3, sum(cuts) + 1)
    cuts = [*cuts, 1]
    window = Window("x", size, STATS)
    whole = rolling_frame(pd.DataFrame({"x": x}), [window])[window.columns].to_numpy()
    rolling, at, parts = RollingWindows([window]), 0, []
    for cut in cuts:
        parts += rolling.apply([{"x": v} for v in x[at:at + cut]], "m")
        at += cut
    np.testing.assert_array_equal(pd.DataFrame(parts)[window.columns].to_numpy(), whole)


def test_rolling_frame_without_stream_column_is_one_stream() -> None:
    frame = pd.DataFrame({"t": VALUES, "m": ["a", "b"] * 5})
    window = Window("t", 3, ("mean",))
    assert list(rolling_frame(frame, [window])["t mean3"]) == [
        r["t mean3"] for r in RollingWindows([window]).apply(rows(VALUES), "all")]
    grouped = rolling_frame(frame, [window], stream_column="m")
    assert grouped["t mean3"][1] == -1.0 and grouped["t mean3"][3] == pytest.approx(0.25)
    assert list(frame.columns) == ["t", "m"]  # the input frame is left alone


@pytest.mark.parametrize(
    ("size", "stats", "message"),
    [
        (1, ("mean",), "size must be a whole number of samples from 2"),
        (0, ("mean",), "from 2 to"),
        (2.5, ("mean",), "not 2.5"),
        (True, ("mean",), "not True"),
        (MAX_SIZE + 1, ("mean",), f"to {MAX_SIZE}"),
        (3, ("median",), r"must be distinct names from \['mean', 'std'"),
        (3, ("mean", "mean"), "distinct"),
        (3, (), "at least one"),
        (3, "mean", "must be a list of names"),
    ],
)
def test_invalid_windows_say_what_is_allowed(size: Any, stats: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Window("t", size, stats)


def test_invalid_window_sets() -> None:
    with pytest.raises(SchemaError, match="source column"):
        Window("", 3, ("mean",))
    with pytest.raises(SchemaError, match="derived twice"):
        RollingWindows([Window("t", 3, ("mean",)), Window("t", 3, ("std", "mean"))])
    with pytest.raises(SchemaError, match="cannot be window sources"):
        RollingWindows([Window("t", 3, ("mean",)), Window("t mean3", 2, ("std",))])
    assert Window("t", 3, ["mean"]).stats == ("mean",)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, "12.5", True, 10**400, "missing"])
def test_bad_values_are_refused_and_leave_the_stream_unchanged(bad: Any) -> None:
    windows = RollingWindows([Window("t", 3, ("mean",)), Window("u", 2, ("max",))])
    good = [{"t": 1.0, "u": 1.0}, {"t": 2.0, "u": 5.0}]
    windows.apply(good, "press-7")
    row: dict[str, Any] = {"t": 5.0} if bad == "missing" else {"t": 5.0, "u": bad}
    with pytest.raises(SchemaError, match=r"column 'u' in stream 'press-7' .*finite number"):
        windows.apply([{"t": 4.0, "u": 2.0}, row], "press-7")
    after = windows.apply([{"t": 3.0, "u": 0.0}], "press-7")
    assert after == RollingWindows(windows.windows).apply([*good, {"t": 3.0, "u": 0.0}],
                                                          "x")[-1:]


def test_rolling_frame_refuses_bad_data() -> None:
    window = Window("t", 3, ("mean",))
    with pytest.raises(SchemaError, match="lacks column"):
        rolling_frame(pd.DataFrame({"x": [1.0]}), [window])
    with pytest.raises(SchemaError, match=r"lacks column.*'m'"):
        rolling_frame(pd.DataFrame({"t": [1.0]}), [window], stream_column="m")
    with pytest.raises(SchemaError, match="'t' in stream 'b' has nan"):
        rolling_frame(pd.DataFrame({"t": [1.0, np.nan], "m": ["a", "b"]}), [window], "m")
    with pytest.raises(SchemaError, match="'warm'"):
        rolling_frame(pd.DataFrame({"t": [1.0, "warm"]}), [window])


# -- windows in schemas ----------------------------------------------------------------------


def windowed_schema() -> Schema:
    return Schema((Feature("t", "numeric", 0.0, 10.0), Feature("kind", "category",
                                                                 categories=("L", "M")),
                   Feature("t mean3", "numeric", 0.0, 10.0),
                   Feature("t slope3", "numeric", -10.0, 10.0)),
                  Label("y"), windows=(Window("t", 3, ("mean", "slope")),))


def test_schema_round_trip_with_windows(tmp_path: Path) -> None:
    schema = windowed_schema()
    data = schema.to_dict()
    assert data["windows"] == [{"source": "t", "size": 3, "stats": ["mean", "slope"]}]
    assert Schema.from_dict(data) == schema
    schema.save(tmp_path / "schema.json")
    assert Schema.load(tmp_path / "schema.json") == schema
    assert "windows" not in Schema((Feature("t"),)).to_dict()  # files without windows unchanged
    assert Schema.from_dict({"version": 1, "features": [{"name": "t"}]}).windows == ()


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([Window("pressure", 3, ("mean", "slope"))], "'pressure' must be a numeric feature.*"
                                                     "not a feature"),
        ([Window("kind", 3, ("mean", "slope"))], "'kind' must be a numeric feature.*category"),
        ([Window("t", 3, ("mean", "slope", "std"))], r"\['t std3'\] must be declared"),
        ([Window("t", 3, ("mean",)), Window("t mean3", 3, ("slope",))], "cannot be window sources"),
        ([Window("t", 3, ("mean", "slope")), Window("t", 3, ("mean",))], "derived twice"),
    ],
)
def test_schema_refuses_inconsistent_windows(windows: list[Window], message: str) -> None:
    features = windowed_schema().features
    if any(w.source == "t mean3" for w in windows):
        features += (Feature("t mean3 slope3", "numeric", -1.0, 1.0),)
    with pytest.raises(SchemaError, match=message):
        Schema(features, windows=tuple(windows))


def test_schema_refuses_derived_columns_declared_as_categories() -> None:
    features = (Feature("t"), Feature("t mean3", "category", categories=("a",)))
    with pytest.raises(SchemaError, match="declared as numeric"):
        Schema(features, windows=(Window("t", 3, ("mean",)),))


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([{"source": "t", "size": "3", "stats": ["mean", "slope"]}], "size must be"),
        ([{"source": "t", "size": 3, "stats": "mean"}], "list of names"),
        ([{"source": "t", "size": 3}], "malformed schema"),
        ("t", "malformed schema"),
    ],
)
def test_malformed_windows_in_schema_files(windows: Any, message: str) -> None:
    data = windowed_schema().to_dict()
    data["windows"] = windows
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict(data)


def test_infer_with_windows_adds_their_columns_as_numeric_features() -> None:
    frame = pd.DataFrame({"machine": ["a", "b", "a", "b", "a", "a"],
                          "t": [1.0, 50.0, 3.0, 40.0, 8.0, 2.0], "y": [0, 1, 0, 1, 0, 1]})
    window = Window("t", 3, ("mean", "slope"))
    schema = Schema.infer(frame, "y", exclude=["machine"], windows=[window],
                          stream_column="machine")
    assert schema.columns == ["t", "t mean3", "t slope3"]
    assert schema.windows == (window,)
    # the same ranges as inferring from the derived frame directly
    derived = rolling_frame(frame, [window], "machine")
    assert schema.features == Schema.infer(derived, "y", exclude=["machine"]).features
    assert schema.features[2].low <= -5.0 and schema.features[2].high >= 3.0  # slope a: 5, -6/2
    x = schema.features_matrix(derived)
    assert x.min() >= -1.0 and x.max() <= 1.0
    # the edge's path, one stream at a time, gives the same matrix
    rolling = RollingWindows(schema.windows)
    records = frame.to_dict("records")
    edge = {m: iter(rolling.apply([r for r in records if r["machine"] == m], m)) for m in "ab"}
    assert np.array_equal(schema.features_matrix(pd.DataFrame(
        [next(edge[r["machine"]]) for r in records])), x)
    assert Schema.from_dict(schema.to_dict()) == schema


def test_infer_refuses_windows_on_missing_or_excluded_columns() -> None:
    frame = pd.DataFrame({"t": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(SchemaError, match="lacks column"):
        Schema.infer(frame, "y", windows=[Window("p", 2, ("mean",))])
    with pytest.raises(SchemaError, match="'t' must be a numeric feature"):
        Schema.infer(frame, "y", exclude=["t"], windows=[Window("t", 2, ("mean",))])
