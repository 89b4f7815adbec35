"""The job kinds the cloud runs, by name, and the API's tagged union of job bodies derived from
them. A new kind is a module with its `JobSpec` subclass, plus one line in `_BUILT_IN` (or a
`register` call, for a kind that lives elsewhere)."""

# No `from __future__ import annotations`: pydantic reads these annotations.
from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

from hedge.errors import ParameterError
from hedge.jobs.base import JobSpec, Opener
from hedge.jobs.evaluate import EvaluateSpec
from hedge.jobs.prepare import PrepareSpec
from hedge.jobs.train import TrainSpec

__all__ = ["DEFAULT_KIND", "job_body", "kind_of", "kinds", "parse_spec", "register"]

_BUILT_IN: tuple[type[JobSpec], ...] = (TrainSpec, EvaluateSpec, PrepareSpec)
#: The kind of a job body that names none (the API's first kind, kept for older owners).
DEFAULT_KIND = "train"

_KINDS: dict[str, type[JobSpec]] = {}


def register(spec: type[JobSpec]) -> type[JobSpec]:
    """Add a kind (its name is the default of its ``kind`` field); `ParameterError` for a name
    taken. Usable as a class decorator. Register before the cloud's app is created."""
    name = spec.model_fields["kind"].default
    if not isinstance(name, str) or not name:
        raise ParameterError(f"{spec.__name__} declares no kind name (kind: Literal[...] = ...)")
    if _KINDS.get(name, spec) is not spec:
        raise ParameterError(f"job kind {name!r} is already registered ({_KINDS[name].__name__})")
    _KINDS[name] = spec
    return spec


for _spec in _BUILT_IN:
    register(_spec)


def kinds() -> dict[str, type[JobSpec]]:
    """The registered kinds by name, in registration order."""
    return dict(_KINDS)


def kind_of(name: str) -> type[JobSpec]:
    """The kind called `name`; `ParameterError` for an unknown one."""
    if name not in _KINDS:
        raise ParameterError(f"unknown job kind {name!r}")
    return _KINDS[name]


def _kind(body: Any) -> str | None:
    """Which spec a job body is: its ``kind`` (`DEFAULT_KIND` if it names none), None for a
    body that is no object or whose kind is no string."""
    kind = (body.get("kind", DEFAULT_KIND) if isinstance(body, dict)
            else getattr(body, "kind", None))
    return kind if isinstance(kind, str) else None


def job_body() -> Any:
    """A job as the API receives it, for FastAPI: validated as the spec its ``kind`` names
    only, so that an invalid body is told what is wrong with it, not with the other kinds."""
    names = list(_KINDS)
    listed = [f"'{n}' (the default)" if n == DEFAULT_KIND else f"'{n}'" for n in names]
    choice = ", ".join(listed[:-1]) + f" or {listed[-1]}" if len(listed) > 1 else listed[0]
    tagged = tuple(Annotated[_KINDS[n], Tag(n)] for n in names)
    return Annotated[Union[tagged],  # noqa: UP007 - a union built from the registry
                     Discriminator(_kind, custom_error_type="job_kind",
                                   custom_error_message=f"kind must be {choice}")]


def parse_spec(kind: str, fields: dict[str, Any], opener: Opener | None = None,
               consortium_id: int = 0) -> JobSpec:
    """A stored job's spec (`fields`: its JSON without the kind; sealed secrets opened with
    `opener`), checked by the rules it was admitted by; `ParameterError` if not."""
    return kind_of(kind).from_stored(fields, opener, consortium_id)
