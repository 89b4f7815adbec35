"""The edge's models: the active one, the last good one, and how a new package becomes active.

A package from the cloud is opened with the owner key pinned at enrolment (`hedge.wire.package`):
tampered, foreign, replayed or downgraded packages are refused and the active model stays. A
new model must pass a self-check (plausible weights: `LinearModel.check_plausible`, and finite
predictions on probe rows built from its schema's ranges) before it is activated. Every
installed model has its own file (`model-SEQUENCE.json`, written before anything points to
it); `state.json` names the active one and the last good one, so activation is one atomic
write of `state.json`: a crash leaves the old state or the new one.
If a model fails later, `revert` goes back to the last good one. Files of models that are
neither active nor last good are removed after each switch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from hedge.data import Schema
from hedge.errors import CorruptDataError, HedgeError, SchemaError
from hedge.files import read_json, write_json
from hedge.ml import LinearModel
from hedge.wire.package import AlertPolicy, open_package
from hedge.wire.signing import VerifyKey

__all__ = ["ModelStore"]


def self_check(model: LinearModel) -> None:
    """`SchemaError` unless the weights are plausible (finite, and a margin bound within
    `hedge.ml.model.MAX_MARGIN`: probe rows alone would pass a model with weights of 1e308,
    whose probabilities saturate to finite 0s and 1s) and the predictions of probe rows (low,
    middle, high of every range) are finite (`CorruptDataError` otherwise)."""
    if model.schema is None:
        raise SchemaError("the model carries no schema; the edge cannot scale its rows")
    model.check_plausible()
    schema = Schema.from_dict(model.schema)
    probes: dict[str, list[object]] = {}
    for f in schema.features:
        if f.kind == "numeric":
            probes[f.name] = [f.low, (f.low + f.high) / 2, f.high]
        else:
            probes[f.name] = [f.categories[0]] * 3
    values = model.predict_frame(pd.DataFrame(probes))
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise CorruptDataError("the model's self-check failed: non-finite predictions")


class ModelStore:
    def __init__(self, folder: str | os.PathLike[str], *, site: str, owner: VerifyKey,
                 package_key: bytes) -> None:
        """The store is the only writer of `folder` (one agent per data directory): it reads
        `state.json` once and keeps it, and the active model, in memory."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.site, self.owner, self.package_key = site, owner, package_key
        path = self.folder / "state.json"
        self._state: dict[str, object] = (read_json(path, "edge model state") if path.exists()
                                          else {})
        self._loaded: tuple[object, LinearModel] | None = None  # (file name, model)

    def _int(self, name: str) -> int | None:
        value = self._state.get(name)
        return None if value is None else int(str(value))

    @property
    def version(self) -> int | None:
        return self._int("version")

    @property
    def highest(self) -> int | None:
        """The newest version ever installed here (rollbacks do not lower it)."""
        return self._int("highest")

    @property
    def sequence(self) -> int:
        """The newest signed publication sequence installed here."""
        return self._int("sequence") or 0

    @property
    def alert(self) -> AlertPolicy | None:
        """The alert policy signed with the active model (None: the edge's own setting)."""
        return AlertPolicy.of(self._state.get("alert"))

    def active(self) -> LinearModel | None:
        """The active model (read from its file once); if the file is damaged, the last good
        one takes its place."""
        name = self._state.get("active")
        if name is None:
            return None
        if self._loaded is None or self._loaded[0] != name:
            try:
                model = LinearModel.load(self.folder / str(name))
            except HedgeError:
                if self._state.get("last_good") is None:
                    raise
                self.revert()
                return self.active()
            self._loaded = (name, model)
        return self._loaded[1]

    def install(self, package: bytes) -> int:
        """Open, check and activate a package; returns its version. Raises (and keeps the
        active model) when the package is refused or the model fails its self-check."""
        manifest, model = open_package(package, site=self.site, owner=self.owner,
                                       package_key=self.package_key,
                                       active_version=self.version,
                                       highest_version=self.highest,
                                       last_sequence=self.sequence)
        self_check(model)
        name = f"model-{manifest.sequence}.json"
        model.save(self.folder / name)
        state = self._state
        self._switch({"active": name, "version": manifest.version,
                      "sequence": manifest.sequence, "rollback": manifest.rollback,
                      "highest": max(manifest.version, self.highest or 0),
                      "alert": None if manifest.alert is None else manifest.alert.to_dict(),
                      "last_good": state.get("active"),
                      "last_good_version": state.get("version"),
                      "last_good_alert": state.get("alert")})
        self._loaded = (name, model)
        return manifest.version

    def revert(self) -> None:
        """Back to the last good model (the active one failed in use)."""
        state = self._state
        if state.get("last_good") is None:
            raise HedgeError("there is no last good model to go back to")
        self._switch({**state, "active": state["last_good"],
                      "version": state.get("last_good_version"),
                      "alert": state.get("last_good_alert"), "last_good": None,
                      "last_good_version": None, "last_good_alert": None})

    def _switch(self, state: dict[str, object]) -> None:
        write_json(self.folder / "state.json", state)  # atomic: the switch itself
        self._state = state
        keep = {state.get("active"), state.get("last_good")}
        for path in self.folder.glob("model-*.json"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
