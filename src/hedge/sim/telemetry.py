"""What a simulated machine publishes: its variables (names, types, engineering units) and one
sample per cycle, from the milling model or replayed from a recorded dataset.

Units are UN/CEFACT common codes (as OPC UA's EngineeringUnits carry them): KEL kelvin, RPM
revolutions per minute, NU newton metre, MIN minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pandas as pd

from hedge.errors import ParameterError
from hedge.sim.milling import MODES, MillingMachine

__all__ = ["AI4I_ROW_VARIABLES", "AI4I_VARIABLES", "CMAPSS_VARIABLES", "MillingSource",
           "ReplaySource", "Sample", "Source", "Unit", "Variable"]


@dataclass(frozen=True)
class Unit:
    code: str  # UN/CEFACT common code
    symbol: str
    description: str

    @property
    def unit_id(self) -> int:
        """OPC UA's UnitId for the code (Part 8: the code's characters, 8 bits each)."""
        value = 0
        for char in self.code:
            value = (value << 8) | ord(char)
        return value


KELVIN = Unit("KEL", "K", "kelvin")
RPM = Unit("RPM", "r/min", "revolutions per minute")
NEWTON_METRE = Unit("NU", "N·m", "newton metre")
MINUTE = Unit("MIN", "min", "minute")


@dataclass(frozen=True)
class Variable:
    """One machine variable: its browse and display name, the dataset column it comes from,
    its type and unit."""

    name: str
    column: str
    kind: Literal["float", "int", "str", "bool"]
    unit: Unit | None = None

    def convert(self, value: Any) -> Any:
        if self.kind == "float":
            return float(value)
        if self.kind == "int":
            return int(value)
        if self.kind == "bool":
            return bool(value)
        return str(value)


AI4I_VARIABLES = (
    Variable("Type", "Type", "str"),
    Variable("AirTemperature", "Air temperature [K]", "float", KELVIN),
    Variable("ProcessTemperature", "Process temperature [K]", "float", KELVIN),
    Variable("RotationalSpeed", "Rotational speed [rpm]", "float", RPM),
    Variable("Torque", "Torque [Nm]", "float", NEWTON_METRE),
    Variable("ToolWear", "Tool wear [min]", "int", MINUTE),
    Variable("MachineFailure", "Machine failure", "bool"),
    *(Variable(mode, mode, "bool") for mode in MODES),
)
#: what a model learns from: the AI4I machine variables and the label (no failure modes)
AI4I_ROW_VARIABLES = AI4I_VARIABLES[:7]

CMAPSS_VARIABLES = (
    Variable("Unit", "unit", "int"),
    Variable("EngineCycle", "cycle", "int"),
    *(Variable(f"Setting{i}", f"setting{i}", "float") for i in range(1, 4)),
    *(Variable(f"Sensor{i}", f"s{i}", "float") for i in range(1, 22)),
    Variable("RUL", "RUL", "int"),
)


@dataclass(frozen=True)
class Sample:
    """One cycle of one machine: values by variable name."""

    machine: str
    cycle: int
    values: dict[str, Any]


class Source(Protocol):
    machine: str
    variables: tuple[Variable, ...]

    def next(self) -> Sample | None:
        """The next cycle's sample, or None when the source has ended."""


class MillingSource:
    """The AI4I-like milling model (`MillingMachine`), endless."""

    variables = AI4I_VARIABLES

    def __init__(self, machine: MillingMachine) -> None:
        self.model, self.machine = machine, machine.name

    def next(self) -> Sample:
        reading = self.model.step()
        row: dict[str, Any] = {**reading.ai4i_row(),
                               **{mode: mode in reading.failures for mode in MODES}}
        return Sample(self.machine, reading.cycle,
                      {v.name: v.convert(row[v.column]) for v in self.variables})


class ReplaySource:
    """Plays the rows of a recorded dataset in order (AI4I rows, C-MAPSS engine cycles), once
    or in a loop."""

    def __init__(self, machine: str, frame: pd.DataFrame, variables: tuple[Variable, ...],
                 loop: bool = False) -> None:
        missing = [v.column for v in variables if v.column not in frame.columns]
        if missing:
            raise ParameterError(f"the recording lacks the columns {missing}; replay needs "
                                 f"{[v.column for v in variables]}")
        if frame.empty:
            raise ParameterError("the recording has no rows to replay")
        self.machine, self.variables, self.loop = machine, variables, loop
        self._cycle = 0
        self.load(frame)

    def load(self, frame: pd.DataFrame) -> None:
        """Replay these rows next (the cycle counter goes on)."""
        self._records = frame[[v.column for v in self.variables]].to_dict("records")
        self._rows: Iterator[dict[str, Any]] = iter(self._records)

    def next(self) -> Sample | None:
        row = next(self._rows, None)
        if row is None and self.loop:
            self._rows = iter(self._records)
            row = next(self._rows)
        if row is None:
            return None
        self._cycle += 1
        return Sample(self.machine, self._cycle,
                      {v.name: v.convert(row[v.column]) for v in self.variables})
