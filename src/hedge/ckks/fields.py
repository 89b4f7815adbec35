"""Fields of a JSON object another party wrote (a container header, a signed manifest, a model
body), read with their exact JSON types and ranges: every parser of another party's bytes
reads its fields through `Fields`, so that a crafted value is refused naming the field, and no
TypeError, KeyError or OverflowError escapes from deep inside a reader."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

from hedge.ckks.params import Parameters
from hedge.errors import CorruptDataError, HedgeError, KeyMismatchError, ParameterError

__all__ = ["MAX_TEXT", "Fields", "describe"]

_MISSING: Any = object()
#: Longest string a header field may hold unless its reader says otherwise.
MAX_TEXT = 4096


def describe(value: Any) -> str:
    """A short description of a JSON value for an error message (never the whole value)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, str) and len(value) > 40:
        return f"a string of {len(value)} characters"
    if isinstance(value, list | dict):
        return f"{'a list' if isinstance(value, list) else 'an object'} of {len(value)} item(s)"
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    return f"a {type(value).__name__}"


class Fields:
    """The fields of a JSON object from another party (a container header, a manifest, a model
    body), read with their exact JSON types: no bool for an int, no float for an int, no string
    for a list, no silent conversion. Every getter raises `error` (default `CorruptDataError`)
    naming `what` and the field, what was expected and what was found.

    A missing field raises too unless the getter is given a `default` (returned as it is);
    `nullable` getters also take null, returned as None."""

    def __init__(self, fields: Any, what: str,
                 error: type[HedgeError] = CorruptDataError) -> None:
        self.what, self.error = what, error
        if not isinstance(fields, dict):
            raise self._fail(None, "a JSON object", fields)
        self.fields: dict[str, Any] = fields

    def _fail(self, key: str | None, expected: str, value: Any) -> HedgeError:
        where = self.what if key is None else f"{self.what}: field {key!r}"
        return self.error(f"{where} should be {expected}, got {describe(value)}; the data is "
                          "damaged or was not written by this version of hedge: make it again "
                          "from its source")

    def fail(self, key: str, expected: str) -> HedgeError:
        """The error for field `key` (for a reader's own conditions): `raise fields.fail(...)`."""
        return self._fail(key, expected, self.fields.get(key))

    def _get(self, key: str, default: Any) -> tuple[Any, bool]:
        """(value, present); a missing field without a default raises."""
        if key in self.fields:
            return self.fields[key], True
        if default is _MISSING:
            raise self.error(f"{self.what}: field {key!r} is missing; the data is damaged or "
                             "was not written by this version of hedge: make it again from its "
                             "source")
        return default, False

    def integer(self, key: str, low: int, high: int, default: Any = _MISSING, *,
                nullable: bool = False) -> Any:
        """An int (not a bool, not a float) in [low, high]."""
        value, present = self._get(key, default)
        if not present or (nullable and value is None):
            return value
        if not _is_int(value) or not low <= value <= high:
            raise self._fail(key, f"an integer in [{low}, {high}]", value)
        return int(value)

    def number(self, key: str, low: float, high: float, default: Any = _MISSING, *,
               open_low: bool = False) -> Any:
        """A finite int or float (not a bool) in [low, high] (in (low, high] with `open_low`)."""
        value, present = self._get(key, default)
        if not present:
            return value
        if not (_is_finite(value) and value <= high
                and (low < value if open_low else low <= value)):
            bracket = "(" if open_low else "["
            raise self._fail(key, f"a finite number in {bracket}{low:g}, {high:g}]", value)
        return float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        """true or false."""
        value, present = self._get(key, default)
        if present and not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def string(self, key: str, default: Any = _MISSING, *, max_length: int = MAX_TEXT,
               choices: tuple[str | None, ...] | None = None) -> Any:
        """A string of at most `max_length` characters; with `choices`, one of them (None
        among the choices allows null)."""
        value, present = self._get(key, default)
        if not present:
            return value
        if choices is not None:
            if not (value is None or isinstance(value, str)) or value not in choices:
                raise self._fail(key, f"one of {list(choices)}", value)
            return value
        if not _is_text(value) or len(value) > max_length:
            raise self._fail(key, f"a string of at most {max_length} characters", value)
        return value

    def key_set(self, fingerprint: str, mismatch: str) -> None:
        """Check that field 'fingerprint' (absent: written before artifacts named their key
        set) names the key set `fingerprint`; `KeyMismatchError(mismatch)` if it names
        another."""
        if self.string("fingerprint", fingerprint, max_length=64) != fingerprint:
            raise KeyMismatchError(mismatch)

    def optional_object(self, key: str) -> dict[str, Any] | None:
        """A JSON object or null (missing: None)."""
        value, _ = self._get(key, None)
        if value is not None and not isinstance(value, dict):
            raise self._fail(key, "a JSON object or null", value)
        return value

    def strings(self, key: str, *, min_items: int = 0, max_items: int,
                max_length: int = MAX_TEXT, distinct: bool = False) -> list[str]:
        """A list of non-empty strings of at most `max_length` characters."""
        value, _ = self._get(key, _MISSING)
        expected = (f"a list of {min_items} to {max_items} non-empty strings of at most "
                    f"{max_length} characters" + (", all different" if distinct else ""))
        self._items(key, value, expected, min_items, max_items,
                    lambda v: _is_text(v) and 0 < len(v) <= max_length)
        if distinct and len(set(value)) != len(value):
            raise self.error(f"{self.what}: field {key!r} should be {expected}; it names one "
                             "twice")
        return list(value)

    def nested(self, key: str) -> Fields:
        """A nested JSON object, read the same way (its errors name the field)."""
        value, _ = self._get(key, _MISSING)
        return Fields(value, f"{self.what}: field {key!r}", self.error)

    def parameters(self, key: str = "params") -> Parameters:
        """The CKKS parameter description `Parameters.to_dict` wrote, with exact types, then
        validated like the constructor (an insecure or unsupported set is refused too)."""
        p = self.nested(key)
        p.string("name", max_length=64)
        p.string("description", "", max_length=MAX_TEXT)
        try:
            return Parameters.from_dict(p.fields)
        except ParameterError as exc:
            raise self.error(f"{self.what}: field {key!r} is not a valid parameter set: "
                             f"{exc}") from exc

    def integers(self, key: str, low: int, high: int, *, min_items: int = 0,
                 max_items: int) -> list[int]:
        """A list of ints (not bools, not floats), each in [low, high]."""
        value, _ = self._get(key, _MISSING)
        self._items(key, value, f"a list of {min_items} to {max_items} integers in "
                    f"[{low}, {high}]", min_items, max_items,
                    lambda v: _is_int(v) and low <= v <= high)
        return [int(v) for v in value]

    def numbers(self, key: str, *, min_items: int = 0, max_items: int) -> list[float]:
        """A list of finite ints or floats (not bools)."""
        value, _ = self._get(key, _MISSING)
        self._items(key, value, f"a list of {min_items} to {max_items} finite numbers",
                    min_items, max_items, _is_finite)
        return [float(v) for v in value]

    def number_rows(self, key: str, *, max_rows: int, items: tuple[int, int],
                    min_rows: int = 1) -> list[list[float]]:
        """A list of `min_rows` to `max_rows` lists of finite numbers, each of a length in
        [items[0], items[1]]."""
        value, _ = self._get(key, _MISSING)
        low, high = items
        expected = (f"a list of {min_rows} to {max_rows} lists of {low} to {high} finite "
                    "numbers")
        self._items(key, value, expected, min_rows, max_rows,
                    lambda row: isinstance(row, list) and low <= len(row) <= high and all(
                        _is_finite(v) for v in row))
        return [[float(v) for v in row] for row in value]

    def _items(self, key: str, value: Any, expected: str, min_items: int, max_items: int,
               ok: Callable[[Any], bool]) -> None:
        if not isinstance(value, list) or not min_items <= len(value) <= max_items:
            raise self._fail(key, expected, value)
        for i, item in enumerate(value):
            if not ok(item):
                raise self.error(f"{self.what}: field {key!r} should be {expected}, got "
                                 f"{describe(item)} at position {i}; the data is damaged or "
                                 "was not written by this version of hedge: make it again "
                                 "from its source")


def _is_text(value: Any) -> bool:
    """A string that is valid Unicode text: JSON's escapes can make lone surrogates
    ("\\ud800"), which no UTF-8 file, database or log could take later."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    """An int or float (not a bool) that converts to a finite float."""
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value) and abs(value) <= _LARGEST_FLOAT


_LARGEST_FLOAT = int(sys.float_info.max)


