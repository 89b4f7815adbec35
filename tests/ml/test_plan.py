"""Training modes given as text are checked in one place."""

from __future__ import annotations

import pytest

from hedge.errors import ParameterError
from hedge.ml import plan_training
from hedge.ml.plan import check_mode


def test_modes() -> None:
    assert check_mode("assisted") == "assisted"
    assert check_mode("non-interactive") == "non-interactive"
    with pytest.raises(ParameterError, match="'interactive'"):
        check_mode("interactive")
    with pytest.raises(ParameterError, match="mode must be"):
        plan_training("logistic", 3, 100, "fast")  # type: ignore[arg-type]
