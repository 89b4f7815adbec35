"""Training modes given as text are checked in one place; plan files are read back field by
field, or refused naming the field and the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hedge.errors import ParameterError, SchemaError
from hedge.ml import TrainingPlan, plan_training
from hedge.ml.plan import check_mode


def test_modes() -> None:
    assert check_mode("assisted") == "assisted"
    assert check_mode("non-interactive") == "non-interactive"
    with pytest.raises(ParameterError, match="'interactive'"):
        check_mode("interactive")
    with pytest.raises(ParameterError, match="mode must be"):
        plan_training("logistic", 3, 100, "fast")  # type: ignore[arg-type]


def plan_file(tmp_path: Path, **changes: object) -> Path:
    """A saved plan with `changes` to its fields (None: the value null; DROP: left out)."""
    body = plan_training("logistic", 3, 1000).to_dict()
    for name, value in changes.items():
        if value is DROP:
            body.pop(name)
        else:
            body[name] = value
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(body))
    return path


class _Drop:
    """A field to leave out (its repr is stable, so every test worker names the case alike)."""

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


def test_a_saved_plan_loads_as_it_was() -> None:
    for plan in (plan_training("logistic", 3, 1000), plan_training("ridge", 2, 50),
                 plan_training("logistic", 9, 20000, "assisted")):
        assert TrainingPlan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(("field", "value"), [
    ("max_rows", None), ("max_rows", "20000"), ("max_rows", 0), ("max_rows", 2.5),
    ("max_rows", True), ("features", -1), ("features", [3]), ("iterations", 0),
    ("iterations", "2"), ("kind", "svm"), ("kind", None), ("mode", "interactive"),
    ("preset", "huge"), ("preset", 7), ("depth", None), ("depth", -1),
    ("refresh_every", 0), ("refresh_every", "1"), ("rotation_steps", "1, 2"),
    ("rotation_steps", [1, 2.5]), ("rotation_steps", [1, None]), ("bundle_bytes", -5),
    ("seconds", "fast"), ("seconds", -1.0), ("encrypt_seconds_per_1000_rows", None),
    ("version", 2), ("max_rows", DROP), ("rotation_steps", DROP), ("colour", "blue"),
])
def test_a_plan_file_with_a_field_of_the_wrong_type_or_range_is_refused_naming_both(
        tmp_path: Path, field: str, value: object) -> None:
    path = plan_file(tmp_path, **{field: value})
    with pytest.raises(SchemaError) as refused:
        TrainingPlan.load(path)
    message = str(refused.value)
    assert str(path) in message and repr(field) in message, message


def test_a_plan_file_that_is_no_plan_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("[" * 100_000)
    with pytest.raises(SchemaError, match="nested too deeply"):
        TrainingPlan.load(path)
    with pytest.raises(SchemaError, match="'max_rows'"):
        TrainingPlan.from_dict({**plan_training("ridge", 2, 50).to_dict(), "max_rows": None})
