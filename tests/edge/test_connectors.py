"""The folder connector: whole files once they settle; unreadable ones set aside with a reason."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from hedge.edge import FolderConnector


def test_files_are_taken_once_settled(tmp_path: Path) -> None:
    (tmp_path / "new.csv").write_text("a,b\n1,2\n")
    old = tmp_path / "old.csv"
    old.write_text("a,b\n3,4\n5,6\n")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    (tmp_path / "notes.txt").write_text("ignored")
    taken = list(FolderConnector(tmp_path, settle=60).poll())
    assert [i.name.split(":")[0] for i in taken] == ["old.csv"]  # new.csv may still grow
    assert taken[0].rows == [{"a": 3, "b": 4}, {"a": 5, "b": 6}]
    taken[0].acknowledge()
    assert (tmp_path / "done" / "old.csv").exists()
    names = [i.name for i in FolderConnector(tmp_path, settle=0).poll()]
    assert [n.split(":")[0] for n in names] == ["new.csv"] and len(names[0]) > len("new.csv:")


def test_parquet_files(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1.5, 2.5], "b": [3, 4]}).to_parquet(tmp_path / "x.parquet")
    (taken,) = FolderConnector(tmp_path, settle=0).poll()
    assert taken.rows == [{"a": 1.5, "b": 3}, {"a": 2.5, "b": 4}]


def test_unreadable_files_are_rejected_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert list(FolderConnector(tmp_path, settle=0).poll()) == []
    assert (tmp_path / "rejected" / "bad.parquet").exists()
    assert "unreadable" in (tmp_path / "rejected" / "bad.parquet.reason.txt").read_text()
