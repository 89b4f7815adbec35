"""From an intake to the checked frame: window features per machine, and stream rows that break
the schema refused one by one, each with its reason, while the rest goes on; the intake itself
is left for the agent to settle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hedge.data import RollingWindows, Schema, Window, rolling_frame
from hedge.edge.connectors import FolderConnector
from hedge.edge.prepare import prepare
from hedge.edge.streams import StreamIntake, StreamQueue
from hedge.errors import SchemaError

WINDOWS = (Window("torque", 3, ("mean", "slope")),)


def schema() -> Schema:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"machine": ["a", "b"] * 50, "torque": rng.uniform(10, 60, 100),
                          "fail": rng.integers(0, 2, 100)})
    return Schema.infer(frame, label="fail", exclude=["machine"], windows=WINDOWS,
                        stream_column="machine", margin=1.0)


def intake(tmp_path: Path, rows: list[dict[str, object]], machines: list[str]) -> StreamIntake:
    queue = StreamQueue("test", tmp_path / "rejected.jsonl")
    for i, (row, machine) in enumerate(zip(rows, machines, strict=True)):
        queue.put((machine, i), row)
    taken = queue.take()
    assert taken is not None
    return taken


def test_windows_are_computed_per_machine(tmp_path: Path) -> None:
    torque = [20.0, 40.0, 22.0, 44.0, 24.0, 48.0, 26.0]
    machines = ["a", "b", "a", "b", "a", "b", "a"]
    rows = [{"torque": t, "fail": 0} for t in torque]
    prepared = prepare(schema(), RollingWindows(WINDOWS), intake(tmp_path, rows, machines))
    buffered, frame = prepared.rows, prepared.frame
    assert [r["torque mean3"] for r in buffered] == list(frame["torque mean3"])  # buffered too
    assert prepared.keys == [(m, i) for i, m in enumerate(machines)] and not prepared.refused
    expected = rolling_frame(pd.DataFrame({"machine": machines, "torque": torque}), WINDOWS,
                             "machine")
    np.testing.assert_allclose(frame["torque mean3"], expected["torque mean3"])
    np.testing.assert_allclose(frame["torque slope3"], expected["torque slope3"])


def test_rows_that_break_the_schema_are_refused_one_by_one(tmp_path: Path) -> None:
    rows = [{"torque": 30.0, "fail": 0}, {"torque": None, "fail": 1},
            {"torque": 31.0, "fail": 0}, {"torque": 9_999.0, "fail": 0},
            {"torque": 32.0, "fail": 1}]
    taken = intake(tmp_path, rows, ["a"] * 5)
    prepared = prepare(schema(), RollingWindows(WINDOWS), taken)
    assert list(prepared.frame["torque"]) == [30.0, 31.0, 32.0]
    assert [r["torque"] for r in prepared.rows] == [30.0, 31.0, 32.0]
    assert prepared.keys == [("a", 0), ("a", 2), ("a", 4)]  # the keys of the rows kept
    assert sorted(prepared.refused) == [1, 3]  # by position in the intake, each with its reason
    assert "missing" in prepared.refused[1] and "torque" in prepared.refused[3]
    assert len(taken.rows) == 5 and not (tmp_path / "rejected.jsonl").exists()  # left as is


def test_rows_refused_for_their_window_features_are_in_their_neighbours_windows(
        tmp_path: Path) -> None:
    # every 100.0 passes the measured check, but a mean3 of 100 is beyond 90: those rows are
    # refused, and their readings are in the last row's window all the same
    torque = [100.0, 100.0, 100.0, 100.0, 0.0]
    bounded = Schema.from_dict({**schema().to_dict(), "features": [
        {"name": "torque", "low": -40.0, "high": 110.0},
        {"name": "torque mean3", "low": -40.0, "high": 90.0},
        {"name": "torque slope3", "low": -100.0, "high": 100.0}]})
    prepared = prepare(bounded, RollingWindows(WINDOWS),
                       intake(tmp_path, [{"torque": t, "fail": 0} for t in torque], ["a"] * 5))
    assert sorted(prepared.refused) == [0, 1, 2, 3]
    assert all("torque mean3" in why for why in prepared.refused.values())
    assert prepared.keys == [("a", 4)]
    assert prepared.rows[0]["torque mean3"] == pytest.approx(200.0 / 3)


def test_the_few_bad_rows_of_a_long_take_are_found_each_with_its_reason(tmp_path: Path) -> None:
    bad = {0: 9_999.0, 130: None, 256: -500.0}
    rows = [{"torque": bad.get(i, 30.0 + i % 7), "fail": i % 2} for i in range(257)]
    taken = intake(tmp_path, rows, ["a", "b"] * 128 + ["a"])
    prepared = prepare(schema(), RollingWindows(WINDOWS), taken)
    assert len(prepared.rows) == len(prepared.keys or ()) == 254
    assert sorted(prepared.refused) == list(bad)
    assert "torque" in prepared.refused[0] and "missing" in prepared.refused[130]


def legacy() -> Schema:
    """`schema()` with a label that names its positive value only (2): any single other
    value is negative, so a third value breaks it only together with the others."""
    return Schema.from_dict({**schema().to_dict(),
                             "label": {"name": "fail", "kind": "binary", "positive": 2}})


def test_rows_that_break_the_schema_only_together_are_all_refused(tmp_path: Path) -> None:
    # each row alone has a valid label; together they hold three values of a binary label
    rows = [{"torque": 30.0, "fail": 0}, {"torque": 31.0, "fail": 1}, {"torque": 32.0, "fail": 2}]
    prepared = prepare(legacy(), RollingWindows(WINDOWS), intake(tmp_path, rows, ["a"] * 3))
    assert prepared.rows == [] and sorted(prepared.refused) == [0, 1, 2]
    assert all("3 distinct values" in why for why in prepared.refused.values())


def test_rows_that_break_it_together_go_too_when_another_breaks_it_alone(
        tmp_path: Path) -> None:
    # a reading that is missing, and three values of a binary label among the others
    rows = [{"torque": None, "fail": 0}, {"torque": 30.0, "fail": 0},
            {"torque": 31.0, "fail": 1}, {"torque": 32.0, "fail": 2}]
    prepared = prepare(legacy(), RollingWindows(WINDOWS), intake(tmp_path, rows, ["a"] * 4))
    assert prepared.rows == [] and sorted(prepared.refused) == [0, 1, 2, 3]  # no crash later
    assert "missing" in prepared.refused[0]
    assert all("3 distinct values" in prepared.refused[i] for i in (1, 2, 3))


def test_a_file_is_taken_or_refused_whole(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"torque": [30.0, 9_999.0], "fail": [0, 0]}).to_csv(folder / "f.csv",
                                                                      index=False)
    (taken,) = FolderConnector(folder, settle=0).poll()
    with pytest.raises(SchemaError):
        prepare(schema(), RollingWindows(WINDOWS), taken)



def test_a_row_whose_label_is_neither_of_the_labels_values_is_refused_alone(
        tmp_path: Path) -> None:
    # the label's values are 0 and 1: a 2 is refused (not counted as a 0), its neighbours go on
    rows: list[dict[str, object]] = [{"torque": 30.0, "fail": 0}, {"torque": 31.0, "fail": 2},
                                     {"torque": 32.0, "fail": 1}, {"torque": 33.0, "fail": "1"}]
    prepared = prepare(schema(), RollingWindows(WINDOWS), intake(tmp_path, rows, ["a"] * 4))
    assert prepared.keys == [("a", 0), ("a", 2)] and sorted(prepared.refused) == [1, 3]
    assert "[2], neither 0 nor 1" in prepared.refused[1]
    assert "['1'], neither 0 nor 1" in prepared.refused[3]
    assert list(prepared.frame["fail"]) == [0, 1]


def test_a_reading_no_float_can_hold_is_refused_alone(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"torque": 30.0, "fail": 0}, {"torque": 10**400, "fail": 0},
                                     {"torque": 32.0, "fail": 1}]
    prepared = prepare(schema(), RollingWindows(WINDOWS), intake(tmp_path, rows, ["a"] * 3))
    assert sorted(prepared.refused) == [1] and "non-numeric" in prepared.refused[1]
    assert prepared.keys == [("a", 0), ("a", 2)]
