"""The exception tree is documented in one place, complete: every `HedgeError` subclass any
hedge module defines appears under its parent, in `hedge.errors` and in docs/errors.md alike."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import hedge
from hedge.errors import HedgeError

DOCS = Path(__file__).parents[1] / "docs" / "errors.md"


def tree(text: str) -> str:
    """The fenced block that starts with the root."""
    match = re.search(r"```\n(HedgeError .*?)```", text, re.S)
    assert match, "no exception tree"
    return match.group(1)


def parents(block: str) -> dict[str, str]:
    """Each class in the tree and the class it hangs under, from the drawing's indentation."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = re.match(r"^([│ ]*)(?:[├└]── )?([A-Z]\w*Error)\b", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4 + (1 if "──" in line else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        found[match.group(2)] = stack[-1][1] if stack else ""
        stack.append((depth, match.group(2)))
    return found


def every_subclass() -> dict[str, str]:
    for module in pkgutil.walk_packages(hedge.__path__, "hedge."):
        importlib.import_module(module.name)
    seen: dict[str, str] = {}
    todo = [HedgeError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("hedge."):
                seen[sub.__name__] = cls.__name__
                todo.append(sub)
    return seen


def test_the_docs_and_the_module_draw_the_same_tree() -> None:
    assert hedge.errors.__doc__ is not None
    assert tree(DOCS.read_text()) == tree(hedge.errors.__doc__)


def test_every_hedge_error_is_in_the_tree_under_its_parent() -> None:
    drawn = parents(tree(DOCS.read_text()))
    assert drawn.pop("HedgeError") == ""
    assert drawn == every_subclass()


def test_every_error_in_the_tree_has_a_row_saying_what_to_do() -> None:
    text = DOCS.read_text()
    missing = [name for name in every_subclass() if f"| `{name}` |" not in text]
    assert not missing


def test_every_hedge_error_lives_in_hedge_errors_and_is_exported_from_hedge() -> None:
    """Every `HedgeError` subclass any hedge module defines is defined in `hedge.errors` (not in
    a leaf module, whose heavy imports a caller would otherwise need just to catch it) and
    exported from `hedge` and from both modules' `__all__`."""
    every_subclass()  # imports every module
    found: dict[str, type[HedgeError]] = {}
    todo: list[type[HedgeError]] = [HedgeError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("hedge"):
            found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    assert {name: cls.__module__ for name, cls in found.items()} == dict.fromkeys(
        found, "hedge.errors")
    assert {name: getattr(hedge, name, None) for name in found} == found
    assert set(found) <= set(hedge.__all__)
    assert set(found) == set(hedge.errors.__all__)
