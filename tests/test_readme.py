"""The README's command-line walkthroughs run exactly as written, in an empty folder: every
```bash block that starts from `hedge data sites` (the public datasets), line by line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.cli.invoke import invoker

pytestmark = pytest.mark.datasets

README = Path(__file__).resolve().parents[1] / "README.md"


def walkthroughs() -> list[list[list[str]]]:
    """Each walkthrough block as its command lines, split like a shell would (comments off)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [[shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
            for block in blocks if "hedge data sites" in block]


def run(block: list[list[str]]) -> None:
    env = {"COLUMNS": "200"}
    hedge = invoker(env)
    for words in block:
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            continue
        assert words[0] == "hedge", f"the README runs {words[0]!r}, not a hedge command"
        hedge(*words[1:])


def test_the_readme_has_both_walkthroughs() -> None:
    firsts = [block[0] if block[0][0] == "hedge" else block[1] for block in walkthroughs()]
    assert [w[:4] for w in firsts] == [["hedge", "data", "sites", "edin"],
                                       ["hedge", "data", "sites", "hr"]]


def test_training_walkthrough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(walkthroughs()[0])
    held = pd.read_csv("holdout.csv")
    predictions = pd.read_csv("predictions.csv")
    assert len(predictions) == len(held)
    assert roc_auc_score(held["y"], predictions["probability"]) > 0.9


def test_segmentation_walkthrough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(walkthroughs()[1])
    labels = pd.read_csv("labels.csv")
    assert len(labels) == len(pd.read_csv("holdout.csv"))
    assert set(labels["segment"]) <= set(range(5))
    assert any(Path("report").iterdir())
