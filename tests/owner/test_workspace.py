"""OwnerWorkspace's state file: changes from several processes are serialised, none lost."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hedge.files import read_json, write_json
from hedge.owner.workspace import OwnerWorkspace

STATE = {"version": 1, "cloud": "https://cloud.example", "consortium": 1, "name": "acme",
         "fingerprint": "f" * 64, "owner_key": "k", "sites": [], "deployments": {},
         "next_version": 1}


def test_a_change_waits_for_another_and_keeps_it(tmp_path: Path) -> None:
    write_json(tmp_path / "owner.json", STATE)
    # two processes' views, opened before either changes anything (the key service and a
    # command in another terminal)
    first, second = OwnerWorkspace.open(tmp_path), OwnerWorkspace.open(tmp_path)
    url = "https://keys.example:8765"
    with first._editing() as state:
        state["sites"].append("plant-a")
        other = threading.Thread(target=second.set_key_service, args=(url,))
        other.start()
        other.join(0.5)
        assert other.is_alive()  # waits for the lock
    other.join(10)
    on_disk = read_json(tmp_path / "owner.json", "state")
    assert on_disk["sites"] == ["plant-a"] and on_disk["key_service"] == url
    assert second.state == on_disk and first.state["sites"] == ["plant-a"]


def test_a_change_that_fails_writes_nothing(tmp_path: Path) -> None:
    write_json(tmp_path / "owner.json", STATE)
    ws = OwnerWorkspace.open(tmp_path)
    with pytest.raises(RuntimeError), ws._editing() as state:
        state["next_version"] = 99
        raise RuntimeError("publication failed")
    assert read_json(tmp_path / "owner.json", "state")["next_version"] == 1
