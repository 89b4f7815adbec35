"""From an intake to the checked frame: window features per machine, and stream rows that break
the schema rejected one by one while the rest goes on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hedge.data import RollingWindows, Schema, Window, rolling_frame
from hedge.edge.connectors import FolderConnector
from hedge.edge.prepare import prepare
from hedge.edge.streams import StreamQueue
from hedge.errors import SchemaError

WINDOWS = (Window("torque", 3, ("mean", "slope")),)


def schema() -> Schema:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"machine": ["a", "b"] * 50, "torque": rng.uniform(10, 60, 100),
                          "fail": rng.integers(0, 2, 100)})
    return Schema.infer(frame, label="fail", exclude=["machine"], windows=WINDOWS,
                        stream_column="machine", margin=1.0)


def intake(tmp_path: Path, rows: list[dict[str, object]], machines: list[str]) -> object:
    queue = StreamQueue("test", tmp_path / "rejected.jsonl")
    for i, (row, machine) in enumerate(zip(rows, machines, strict=True)):
        queue.put((machine, i), row)
    return queue.take()


def test_windows_are_computed_per_machine(tmp_path: Path) -> None:
    torque = [20.0, 40.0, 22.0, 44.0, 24.0, 48.0, 26.0]
    machines = ["a", "b", "a", "b", "a", "b", "a"]
    rows = [{"torque": t, "fail": 0} for t in torque]
    prepared = prepare(schema(), RollingWindows(WINDOWS), intake(tmp_path, rows, machines))
    assert prepared is not None
    buffered, frame = prepared
    assert [r["torque mean3"] for r in buffered] == list(frame["torque mean3"])  # buffered too
    expected = rolling_frame(pd.DataFrame({"machine": machines, "torque": torque}), WINDOWS,
                             "machine")
    np.testing.assert_allclose(frame["torque mean3"], expected["torque mean3"])
    np.testing.assert_allclose(frame["torque slope3"], expected["torque slope3"])


def test_rows_that_break_the_schema_are_rejected_one_by_one(tmp_path: Path) -> None:
    rows = [{"torque": 30.0, "fail": 0}, {"torque": None, "fail": 1},
            {"torque": 31.0, "fail": 0}, {"torque": 9_999.0, "fail": 0},
            {"torque": 32.0, "fail": 1}]
    taken = intake(tmp_path, rows, ["a"] * 5)
    prepared = prepare(schema(), RollingWindows(WINDOWS), taken)
    assert prepared is not None
    buffered, frame = prepared
    assert list(frame["torque"]) == [30.0, 31.0, 32.0]
    assert [r["torque"] for r in buffered] == [30.0, 31.0, 32.0]
    assert [r["torque"] for r in taken.rows] == [30.0, 31.0, 32.0]  # type: ignore[attr-defined]
    kept = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [k["row"]["torque"] for k in kept] == [None, 9_999.0]  # each with its reason
    assert "missing" in kept[0]["reason"] and "torque" in kept[1]["reason"]


def test_the_few_bad_rows_of_a_long_take_are_found_each_with_its_reason(tmp_path: Path) -> None:
    bad = {0: 9_999.0, 130: None, 256: -500.0}
    rows = [{"torque": bad.get(i, 30.0 + i % 7), "fail": i % 2} for i in range(257)]
    taken = intake(tmp_path, rows, ["a", "b"] * 128 + ["a"])
    prepared = prepare(schema(), RollingWindows(WINDOWS), taken)
    assert prepared is not None and len(prepared[0]) == 254
    kept = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [k["row"]["torque"] for k in kept] == list(bad.values())
    assert "torque" in kept[0]["reason"] and "missing" in kept[1]["reason"]


def test_rows_that_break_the_schema_only_together_are_all_rejected(tmp_path: Path) -> None:
    # each row alone has a valid label; together they hold three values of a binary label
    rows = [{"torque": 30.0, "fail": 0}, {"torque": 31.0, "fail": 1}, {"torque": 32.0, "fail": 2}]
    taken = intake(tmp_path, rows, ["a"] * 3)
    assert prepare(schema(), RollingWindows(WINDOWS), taken) is None
    kept = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [k["row"]["fail"] for k in kept] == [0, 1, 2]
    assert all("3 distinct values" in k["reason"] for k in kept)


def test_rows_that_break_it_together_go_too_when_another_breaks_it_alone(
        tmp_path: Path) -> None:
    # a reading that is missing, and three values of a binary label among the others
    rows = [{"torque": None, "fail": 0}, {"torque": 30.0, "fail": 0},
            {"torque": 31.0, "fail": 1}, {"torque": 32.0, "fail": 2}]
    taken = intake(tmp_path, rows, ["a"] * 4)
    assert prepare(schema(), RollingWindows(WINDOWS), taken) is None  # no crash later
    kept = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [k["row"]["torque"] for k in kept] == [None, 30.0, 31.0, 32.0]
    assert "missing" in kept[0]["reason"]
    assert all("3 distinct values" in k["reason"] for k in kept[1:])


def test_a_file_is_taken_or_refused_whole(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"torque": [30.0, 9_999.0], "fail": [0, 0]}).to_csv(folder / "f.csv",
                                                                      index=False)
    (taken,) = FolderConnector(folder, settle=0).poll()
    with pytest.raises(SchemaError):
        prepare(schema(), RollingWindows(WINDOWS), taken)

