"""The one reader and writer of hedge.ml's artifacts: the common header fields (format, key set,
parameters) and the vectors' tags, checked once for every artifact."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hedge.ckks import KeySet, PublicBundle, container
from hedge.errors import CorruptDataError, KeyMismatchError
from hedge.ml.artifact import ArtifactFormat, ArtifactKind, Role

FORMAT = ArtifactFormat(ArtifactKind.STATISTICS, "test artifact",
                        (Role(1, "first"), Role(2, "rest", "count")),
                        "another key set's test artifact", version=3,
                        remake="write it again")


@pytest.fixture(scope="module")
def bundle(other_keys: KeySet) -> PublicBundle:
    return other_keys.public()


@pytest.fixture(scope="module")
def raw(bundle: PublicBundle) -> bytes:
    one = bundle.encrypt(np.array([0.5]))
    return FORMAT.write({"count": 2}, {"first": [one], "rest": [one, one]})


def _records(raw: bytes, tags: list[int], **header: Any) -> bytes:
    head, records = container.from_bytes(raw, ArtifactKind.STATISTICS)
    payload = records[0][1]
    return container.to_bytes(ArtifactKind.STATISTICS, {**head.fields, **header},
                              [(tag, payload) for tag in tags])


def test_an_artifact_round_trips_with_its_common_fields(bundle: PublicBundle,
                                                        raw: bytes) -> None:
    head, _ = container.from_bytes(raw, ArtifactKind.STATISTICS)
    assert head.fields["format"] == 3 and head.fields["fingerprint"] == bundle.fingerprint
    reader = FORMAT.open(raw, bundle)
    assert reader.fields.integer("count", 0, 9) == 2
    vectors = reader.vectors({"first": 1, "rest": 2})
    assert [len(vectors["first"]), len(vectors["rest"])] == [1, 2]


@pytest.mark.parametrize(("tags", "message"), [
    ([1, 2, 5], "unknown tag 5"),
    ([1, 9, 2], "unknown tag 9"),
    ([2, 1, 2], "tag 1, a 'first' vector\\) is out of place"),
    ([1, 1, 2], "out of place"),
    ([1, 2, 2, 2], "more than the 3 vectors its header declares \\(field 'count'\\)"),
    ([1, 2], "1 'rest' vector\\(s\\) where 2 belong \\(field 'count'\\)"),
    ([2, 2], "0 'first' vector\\(s\\) where 1 belong"),
])
def test_tags_are_checked_before_any_ciphertext(bundle: PublicBundle, raw: bytes,
                                                tags: list[int], message: str) -> None:
    reader = FORMAT.open(_records(raw, tags), bundle)
    with pytest.raises(CorruptDataError, match=message):
        reader.vectors({"first": 1, "rest": 2})


@pytest.mark.parametrize(("header", "error", "message"), [
    ({"format": 1}, CorruptDataError, "format 1; this hedge reads format 3 only: write it"),
    ({"format": "3"}, CorruptDataError, "'format'"),
    ({"fingerprint": 7}, CorruptDataError, "'fingerprint'"),
    ({"fingerprint": "0" * 32}, KeyMismatchError, "another key set's"),
    ({"param_id": "0" * 32}, KeyMismatchError, "another key set's"),
    ({"param_id": ["x"]}, CorruptDataError, "'param_id'"),
])
def test_the_common_header_fields_are_checked_once(
        bundle: PublicBundle, raw: bytes, header: dict[str, Any], error: type[Exception],
        message: str) -> None:
    with pytest.raises(error, match=message):
        FORMAT.open(_records(raw, [1, 2, 2], **header), bundle)


def test_a_fingerprint_is_required_unless_the_kind_has_legacy_files(
        bundle: PublicBundle, raw: bytes) -> None:
    head, records = container.from_bytes(raw, ArtifactKind.STATISTICS)
    fields = {k: v for k, v in head.fields.items() if k != "fingerprint"}
    unnamed = container.to_bytes(ArtifactKind.STATISTICS, fields, records)
    with pytest.raises(CorruptDataError, match="'fingerprint' is missing"):
        FORMAT.open(unnamed, bundle)
    legacy = ArtifactFormat(FORMAT.kind, FORMAT.what, FORMAT.roles, FORMAT.mismatch,
                            version=3, unnamed_legacy=True)
    assert len(legacy.open(unnamed, bundle).vectors({"first": 1, "rest": 2})["rest"]) == 2


def test_trailing_bytes_and_the_writer_s_own_mistakes(bundle: PublicBundle, raw: bytes) -> None:
    with pytest.raises(CorruptDataError, match="after the end record"):
        FORMAT.open(raw + b"\0", bundle).vectors({"first": 1, "rest": 2})
    one = bundle.encrypt(np.array([0.5]))
    with pytest.raises(ValueError, match="fingerprint"):
        FORMAT.write({"fingerprint": "x"}, {"first": [one]})
    with pytest.raises(ValueError, match="other"):
        FORMAT.write({}, {"other": [one]})
    with pytest.raises(ValueError, match="distinct tags"):
        ArtifactFormat(FORMAT.kind, "x", (Role(1, "a"), Role(1, "b")), "m")
