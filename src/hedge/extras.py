"""Install extras: what a part of hedge needs beyond the base install, and the error naming it.

The base install (`pip install hedge`) holds the engine, the learning library, schemas and the
command line; each party adds its extra (`hedge[edge]`, `hedge[cloud]`, `hedge[owner]`), and
`hedge[all]` is what the README's commands need (pyproject.toml lists every extra). Code that
needs an extra's package imports it at module level when the whole module belongs to that
extra, or inside `needs_extra` where a base module uses it for one feature.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hedge.errors import MissingExtraError

__all__ = ["is_foreign", "missing_extra", "needs_extra"]


def missing_extra(exc: ModuleNotFoundError, extra: str, what: str) -> MissingExtraError:
    """The error for `what` (a command, a function) failing to import `exc.name`, a package
    of the install extra `extra`. A module of hedge itself that is missing is no missing
    extra but a broken install: the caller re-raises `exc` when `is_foreign(exc)` is false."""
    return MissingExtraError(
        f"{what} needs the {extra!r} install extra, which is not installed here (no module "
        f"{exc.name!r}); install it: pip install 'hedge[{extra}]'")


def is_foreign(exc: ModuleNotFoundError) -> bool:
    """Whether the missing module is another distribution's, not one of hedge's own."""
    return bool(exc.name) and str(exc.name).partition(".")[0] != "hedge"


@contextmanager
def needs_extra(extra: str, what: str) -> Iterator[None]:
    """Run the block; a package it imports that is not installed becomes `MissingExtraError`
    naming `what` and the extra to install. hedge's own missing modules propagate as they are."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if not is_foreign(exc):
            raise
        raise missing_extra(exc, extra, what) from exc
