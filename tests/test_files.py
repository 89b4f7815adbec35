"""hedge.files: JSON lines appended, never rewritten; JSON files read or refused with the file's
name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hedge.errors import SchemaError
from hedge.files import append_jsonl, read_json


def test_json_lines_are_appended_in_a_folder_made_for_them(tmp_path: Path) -> None:
    log = tmp_path / "new" / "log.jsonl"
    append_jsonl(log, [{"a": 1}, {"path": tmp_path}])
    append_jsonl(log, iter([{"b": [2]}]), durable=True)
    append_jsonl(log, [])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == [{"a": 1}, {"path": str(tmp_path)}, {"b": [2]}]


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"a": ' * 100_000, "nested too deeply"),
    (b"{not json", "is not valid JSON"),
    (b'{"n": 1' + b"0" * 5000 + b"}", "is not valid JSON"),  # beyond int conversion
    (b"\xff\xfe{}", "is not valid JSON"),
    (b"[1, 2]", "does not hold a"),
    (b"null", "does not hold a"),
])
def test_a_json_file_that_is_not_an_object_is_refused_naming_the_file(
        tmp_path: Path, body: bytes, message: str) -> None:
    path = tmp_path / "thing.json"
    path.write_bytes(body)
    with pytest.raises(SchemaError, match=message) as refused:
        read_json(path, "thing description")
    assert str(path) in str(refused.value) and "thing description" in str(refused.value)


def test_a_json_path_that_is_no_readable_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="does not exist"):
        read_json(tmp_path / "absent.json", "schema")
    with pytest.raises(SchemaError, match="cannot be read") as refused:
        read_json(tmp_path, "schema")  # a directory
    assert str(tmp_path) in str(refused.value)
