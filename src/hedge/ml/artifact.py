"""hedge.ml's artifacts (datasets, models, k-means contributions, evaluations, statistics) as
engine containers of application kinds: their numbers, and one reader and writer for all.

An artifact is a container (`hedge.ckks.container`) of an `ArtifactKind`:

* a JSON header: the artifact's own fields, plus three this module writes and checks for every
  artifact: `fingerprint` (the key set its vectors are encrypted under), `param_id` (their CKKS
  parameters) and `format` (the artifact's layout version, 1 when absent);
* one record per encrypted vector, its tag the vector's role (`Role`), the roles in the order
  the artifact's `ArtifactFormat` lists them, each record an `EncryptedVector` container.

What a reader learns from an artifact is its header, in clear, and the vectors' lengths and
levels; every value is encrypted. `ArtifactFormat.open` checks the header's `format`, key set and
parameters; the artifact then checks its own fields (`ArtifactReader.fields`) and says how many
vectors of each role they declare (`ArtifactReader.vectors`), which checks every record's tag
before it parses its ciphertexts, and parses those under the reader's bundle (another key set's:
`KeyMismatchError`). Everything malformed is `CorruptDataError` naming the field or the tag.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import IO, Any

from hedge.ckks import EncryptedVector, PublicBundle, container
from hedge.ckks.container import application_kind
from hedge.ckks.fields import Fields
from hedge.errors import CorruptDataError, KeyMismatchError

__all__ = ["ArtifactFormat", "ArtifactKind", "ArtifactReader", "Role"]

#: Header fields every artifact carries, written and checked here (an artifact's own header
#: may not use them).
_COMMON = ("fingerprint", "param_id", "format")


class ArtifactKind(IntEnum):
    """Container kinds of hedge.ml's artifacts, in the engine's application range (the numbers
    hedge has always written, so files written before stay readable)."""

    DATASET = application_kind(4)
    MODEL = application_kind(5)
    CONTRIBUTION = application_kind(6)
    EVALUATION = application_kind(7)
    STATISTICS = application_kind(8)


@dataclass(frozen=True)
class Role:
    """What a vector is for in an artifact: its record tag (1-65535), its name (in errors and
    in `ArtifactReader.vectors`) and the header field, if any, that declares how many there
    are."""

    tag: int
    name: str
    declared_by: str | None = None


Counts = Mapping[str, int | tuple[int, int]]


@dataclass(frozen=True)
class ArtifactFormat:
    """The layout of one artifact: its kind, its vectors' roles in file order, its `version`
    (the header's `format`), what to call it in errors (`what`), the `KeyMismatchError`
    message for another key set's file, and what to do with a file of another version
    (`remake`). `unnamed_legacy`: files of this kind written before artifacts named their key
    set have no `fingerprint`, and are read (their vectors still name theirs)."""

    kind: ArtifactKind
    what: str
    roles: tuple[Role, ...]
    mismatch: str
    version: int = 1
    remake: str = "make it again from its source"
    unnamed_legacy: bool = False

    def __post_init__(self) -> None:
        tags = [r.tag for r in self.roles]
        if len(set(tags)) != len(tags) or not all(0 < t < 1 << 16 for t in tags):
            raise ValueError(f"the {self.what}'s roles need distinct tags in [1, 65535]")

    def write(self, header: Mapping[str, Any],
              vectors: Mapping[str, Sequence[EncryptedVector]]) -> bytes:
        """The artifact's bytes: `header` plus the common fields, then every vector of
        `vectors` (by role name; at least one in all, all under one key set) in role order."""
        taken = [k for k in _COMMON if k in header]
        unknown = set(vectors) - {r.name for r in self.roles}
        if taken or unknown:
            raise ValueError(f"the {self.what} cannot write header fields {taken} or vectors of "
                             f"roles {sorted(unknown)}")
        records = [(r.tag, v) for r in self.roles for v in vectors.get(r.name, ())]
        if not records:
            raise ValueError(f"a {self.what} holds at least one vector")
        bundle = records[0][1].bundle
        if any(v.fingerprint != bundle.fingerprint for _, v in records):
            raise KeyMismatchError(f"the {self.what}'s vectors are encrypted under different "
                                   "key sets")
        fields = {**header, "fingerprint": bundle.fingerprint,
                  "param_id": bundle.params.param_id, "format": self.version}
        return container.to_bytes(self.kind, fields, ((t, v.to_bytes()) for t, v in records))

    def open(self, raw: bytes, bundle: PublicBundle, what: str | None = None) -> ArtifactReader:
        """The artifact's header, checked for its kind, `format`, key set and parameters,
        ready for the artifact's own field checks (errors name `what`, default "<what>
        header"); `CorruptDataError` or `KeyMismatchError(mismatch)` if not."""
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise CorruptDataError(f"expected bytes, got {type(raw).__name__}")
        stream = io.BytesIO(raw)
        header, records = container.read_container(stream, self.kind)
        fields = Fields(header.fields, what or f"{self.what} header")
        version = fields.integer("format", 1, (1 << 16) - 1, 1)
        if version != self.version:
            raise CorruptDataError(f"this {self.what} is in hedge's {self.what} format "
                                   f"{version}; this hedge reads format {self.version} only: "
                                   f"{self.remake}")
        if self.unnamed_legacy:
            fields.key_set(bundle.fingerprint, self.mismatch)
        elif fields.string("fingerprint", max_length=64) != bundle.fingerprint:
            raise KeyMismatchError(self.mismatch)
        if fields.string("param_id", bundle.params.param_id,
                         max_length=64) != bundle.params.param_id:
            raise KeyMismatchError(self.mismatch)
        return ArtifactReader(self, fields, bundle, stream, records)


class ArtifactReader:
    """An opened artifact: `fields` (its header, common fields checked) for the artifact's own
    checks, then `vectors` once, for its encrypted vectors."""

    def __init__(self, form: ArtifactFormat, fields: Fields, bundle: PublicBundle,
                 stream: IO[bytes], records: Iterator[tuple[int, bytes]]) -> None:
        self.format, self.fields, self.bundle = form, fields, bundle
        self._stream, self._records = stream, records

    def vectors(self, counts: Counts) -> dict[str, list[EncryptedVector]]:
        """The vectors by role name, each role's count as the header declares it (`counts`:
        an exact number, or (fewest, most); a role not named: none). Every record's tag is
        checked before its ciphertexts are parsed: an unknown tag, a role out of order or
        beyond its count, more vectors than declared in all, fewer than a role needs, or bytes
        after the end are `CorruptDataError`."""
        form, roles = self.format, self.format.roles
        if set(counts) - {r.name for r in roles}:
            raise ValueError(f"the {form.what} has no roles {sorted(set(counts))}")
        bounds = [_bounds(counts.get(r.name, 0)) for r in roles]
        total = sum(high for _, high in bounds)
        by_tag = {r.tag: i for i, r in enumerate(roles)}
        found: list[list[EncryptedVector]] = [[] for _ in roles]
        at = 0
        for index, (tag, payload) in enumerate(self._records):
            if tag not in by_tag:
                raise CorruptDataError(f"the {form.what}'s record {index} has the unknown tag "
                                       f"{tag}; {self._layout(bounds)}")
            if index >= total:
                raise CorruptDataError(f"the {form.what} holds more than the {total} vectors "
                                       f"its header declares{self._declared(roles)}")
            place = by_tag[tag]
            if place < at or len(found[place]) == bounds[place][1]:
                raise CorruptDataError(f"the {form.what}'s record {index} (tag {tag}, a "
                                       f"{roles[place].name!r} vector) is out of place; "
                                       f"{self._layout(bounds)}")
            at = place
            found[place].append(EncryptedVector.from_bytes(payload, self.bundle))
        if self._stream.read(1):
            raise CorruptDataError("corrupted hedge data: unexpected bytes after the end record")
        for role, vectors, (low, high) in zip(roles, found, bounds, strict=True):
            if not low <= len(vectors) <= high:
                raise CorruptDataError(f"the {form.what} holds {len(vectors)} {role.name!r} "
                                       f"vector(s) where {_count(low, high)} belong"
                                       f"{self._declared((role,))}; {self._layout(bounds)}")
        return {role.name: vectors for role, vectors in zip(roles, found, strict=True)}

    def _layout(self, bounds: list[tuple[int, int]]) -> str:
        parts = [f"{_count(low, high)} {r.name!r} vector{'' if high == 1 else 's'}"
                 for r, (low, high) in zip(self.format.roles, bounds, strict=True) if high]
        return f"this {self.format.what} holds, in this order: {', '.join(parts)}"

    @staticmethod
    def _declared(roles: Sequence[Role]) -> str:
        names = list(dict.fromkeys(f"{r.declared_by!r}" for r in roles if r.declared_by))
        if not names:
            return ""
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f" (field{'s' if len(names) > 1 else ''} {listed})"


def _bounds(count: int | tuple[int, int]) -> tuple[int, int]:
    return (count, count) if isinstance(count, int) else count


def _count(low: int, high: int) -> str:
    return str(low) if low == high else f"{low} to {high}"
