"""A milling machine that behaves like the AI4I 2020 data (Matzka 2020), one workpiece per cycle.

Process variables, as the data set describes them and with its measured spread:

* product quality type L / M / H (50 / 30 / 20 % of workpieces);
* air temperature: a random walk around 300 K with a standard deviation of 2 K;
* process temperature: air temperature + 10 K + a random walk with a standard deviation of 1 K;
* torque: normal around 40 Nm, standard deviation 10 Nm, never negative;
* rotational speed: falls with torque as in the data (2168 - 15.74 * torque rpm, plus normal
  noise of 87 rpm: the least-squares fit on the 10,000 rows);
* tool wear: + 5 / 3 / 2 minutes per workpiece of type H / M / L; the tool is changed when it
  reaches its replacement age or breaks from overstrain.

Every variable stays within the range the data set spans (`AI4I_RANGES`): the walks are
reflected at its bounds and torque and speed drawn again until they fall inside, so an edge whose
schema was inferred from the data accepts every reading, as it would the data's own rows.

Failure modes (any of them is a machine failure):

* TWF, tool wear failure: the tool fails or is replaced at a wear drawn between 200 and 240 min
  (as in the data, about half of those ends are failures);
* HDF, heat dissipation: air-process temperature difference below 8.6 K and speed below 1380 rpm;
* PWF, power: torque x speed (rad/s) below 3500 W or above 9000 W;
* OSF, overstrain: tool wear x torque above 11,000 / 12,000 / 13,000 min Nm for L / M / H;
* RNF, random: 0.1 % of workpieces.

`failure_scale` multiplies the random failure rates (TWF failures, RNF) for demos that want
more events; the physical rules stay as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hedge.errors import ParameterError

__all__ = ["AI4I_RANGES", "MODES", "MillingMachine", "Reading"]

MODES = ("TWF", "HDF", "PWF", "OSF", "RNF")

_WEAR = {"L": 2, "M": 3, "H": 5}
#: the smallest and largest value of each variable in the 10,000 rows of AI4I 2020
AI4I_RANGES = {"air_temperature": (295.3, 304.5), "process_temperature": (305.7, 313.8),
               "rotational_speed": (1168.0, 2886.0), "torque": (3.8, 76.6)}
_OVERSTRAIN = {"L": 11_000.0, "M": 12_000.0, "H": 13_000.0}


@dataclass(frozen=True)
class Reading:
    """One workpiece: the machine's variables while it was made, and what failed."""

    machine: str
    cycle: int
    type: str
    air_temperature: float  # K
    process_temperature: float  # K
    rotational_speed: float  # rpm
    torque: float  # N·m
    tool_wear: int  # min
    failures: tuple[str, ...]  # the failure modes (MODES) that occurred

    @property
    def failure(self) -> bool:
        return bool(self.failures)

    def ai4i_row(self) -> dict[str, float | int | str]:
        """The reading as a row with the AI4I 2020 column names (what the schemas expect)."""
        return {"Type": self.type, "Air temperature [K]": self.air_temperature,
                "Process temperature [K]": self.process_temperature,
                "Rotational speed [rpm]": self.rotational_speed,
                "Torque [Nm]": self.torque, "Tool wear [min]": self.tool_wear,
                "Machine failure": int(self.failure)}


class MillingMachine:
    """Deterministic for a seed: the same seed gives the same readings."""

    def __init__(self, name: str = "mill-1", seed: int = 0, failure_scale: float = 1.0) -> None:
        if not math.isfinite(failure_scale) or failure_scale < 0:
            raise ParameterError(f"failure_scale must be a non-negative number, not "
                                 f"{failure_scale!r}")
        self.name, self.failure_scale = name, failure_scale
        self._rng = np.random.default_rng(seed)
        self.cycle = 0
        self._air_walk = 0.0
        self._process_walk = 0.0
        self._wear = 0
        self._tool_end = self._new_tool_end()

    def _new_tool_end(self) -> int:
        return int(self._rng.integers(200, 241))

    def _walk(self, state: float, sd: float) -> float:
        """A mean-reverting walk with stationary standard deviation `sd`."""
        keep = 0.995
        return keep * state + sd * math.sqrt(1 - keep**2) * float(self._rng.normal())

    def _within(self, name: str, draw: Callable[[], float]) -> float:
        """`draw()` again until it falls within the data set's range of `name` (a truncated
        distribution, the same shape inside the range)."""
        low, high = AI4I_RANGES[name]
        while not low <= (value := draw()) <= high:
            pass
        return value

    def step(self) -> Reading:
        """Make one workpiece; returns its reading (the tool is changed after it if needed)."""
        rng = self._rng
        self.cycle += 1
        kind = str(rng.choice(["L", "M", "H"], p=[0.5, 0.3, 0.2]))
        self._air_walk = self._walk(self._air_walk, 2.0)
        self._process_walk = self._walk(self._process_walk, 1.0)
        air = round(_reflect(300.0 + self._air_walk, AI4I_RANGES["air_temperature"]), 1)
        process = round(_reflect(air + 10.0 + self._process_walk,
                                 AI4I_RANGES["process_temperature"]), 1)
        torque = round(self._within("torque", lambda: float(rng.normal(40.0, 10.0))), 1)
        speed = float(round(self._within(
            "rotational_speed", lambda: 2168.0 - 15.74 * torque + float(rng.normal(0, 87)))))
        self._wear += _WEAR[kind]
        failures = []
        tool_end = self._wear >= self._tool_end
        if tool_end and rng.random() < min(1.0, 0.5 * self.failure_scale):
            failures.append("TWF")
        if process - air < 8.6 and speed < 1380:
            failures.append("HDF")
        power = torque * speed * 2 * math.pi / 60
        if power < 3500 or power > 9000:
            failures.append("PWF")
        if self._wear * torque > _OVERSTRAIN[kind]:
            failures.append("OSF")
        if rng.random() < 0.001 * self.failure_scale:
            failures.append("RNF")
        reading = Reading(self.name, self.cycle, kind, air, process, speed, torque, self._wear,
                          tuple(failures))
        if tool_end or "OSF" in failures:  # a worn or overstrained tool is changed
            self._wear = 0
            self._tool_end = self._new_tool_end()
        return reading


def _reflect(value: float, bounds: tuple[float, float]) -> float:
    """`value` mirrored back into [low, high] at the bound it crossed (a walk that meets a
    bound turns back, without piling up there as clipping would)."""
    low, high = bounds
    while not low <= value <= high:
        value = 2 * low - value if value < low else 2 * high - value
    return value
