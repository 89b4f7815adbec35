"""hedge.files: JSON lines appended, never rewritten."""

from __future__ import annotations

import json
from pathlib import Path

from hedge.files import append_jsonl


def test_json_lines_are_appended_in_a_folder_made_for_them(tmp_path: Path) -> None:
    log = tmp_path / "new" / "log.jsonl"
    append_jsonl(log, [{"a": 1}, {"path": tmp_path}])
    append_jsonl(log, iter([{"b": [2]}]), durable=True)
    append_jsonl(log, [])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == [{"a": 1}, {"path": str(tmp_path)}, {"b": [2]}]
