"""Presets and validation of custom parameters."""

from __future__ import annotations

import pytest

from hedge.ckks import MAX_LOG_Q_128, PRESETS, Parameters, preset
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import HedgeError, ParameterError


@pytest.mark.parametrize(("name", "n", "depth"), [("fast", 8192, 3), ("standard", 16384, 8),
                                                  ("deep", 32768, 19)])
def test_presets_are_128_bit_secure_and_documented(name: str, n: int, depth: int) -> None:
    p = preset(name)
    assert p.poly_modulus_degree == n
    assert p.depth == depth
    assert p.total_bits <= MAX_LOG_Q_128[n]
    assert p.scale_bits == 40
    assert p.slot_count == n // 2
    assert p.description


def test_security_table_matches_the_standard() -> None:
    assert (MAX_LOG_Q_128[8192], MAX_LOG_Q_128[16384], MAX_LOG_Q_128[32768]) == (218, 438, 881)


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ParameterError, match="fast, standard, deep"):
        preset("turbo")


def test_parameters_above_security_bound_are_refused() -> None:
    with pytest.raises(ParameterError, match="128-bit security"):
        Parameters("x", 8192, (50, 40, 40, 40), 60, 40)


@pytest.mark.parametrize(
    ("n", "data", "special", "scale", "message"),
    [
        (12345, (50, 40), 55, 40, "not supported"),
        (8192, (50,), 55, 40, "at least two primes"),
        (8192, (61, 40), 60, 40, "outside"),
        (8192, (50, 40), 45, 40, "special"),
        (8192, (40, 40), 45, 40, "below the first prime"),
        (8192, (50, 40), 55, 10, "at least 20"),
    ],
)
def test_invalid_custom_parameters(n: int, data: tuple[int, ...], special: int, scale: int,
                                   message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        Parameters("x", n, data, special, scale)


def test_parameter_error_is_a_hedge_error() -> None:
    assert issubclass(ParameterError, HedgeError)


def test_param_id_depends_on_parameters_not_name() -> None:
    p = preset("fast")
    renamed = Parameters("other", p.poly_modulus_degree, p.data_bits, p.special_bits, p.scale_bits)
    assert renamed.param_id == p.param_id
    assert preset("standard").param_id != p.param_id


def test_dict_round_trip_and_malformed_dicts() -> None:
    for p in PRESETS.values():
        assert Parameters.from_dict(p.to_dict()) == p
    with pytest.raises(ParameterError, match="malformed"):
        Parameters.from_dict({"name": "x"})
    bad = preset("fast").to_dict() | {"special_bits": 61}
    with pytest.raises(ParameterError):
        Parameters.from_dict(bad)


@pytest.mark.parametrize("change", [
    {"poly_modulus_degree": float("inf")}, {"poly_modulus_degree": 8192.9},
    {"poly_modulus_degree": 8192.0}, {"special_bits": 50.5}, {"special_bits": True},
    {"data_bits": "48404040"}, {"data_bits": [48, 40.0, 40, 40]}, {"name": ["fast"]},
    {"description": 3}, {"data_bits": [40] * 65},
])
def test_parameter_descriptions_need_their_exact_types(change: dict[str, object]) -> None:
    """A description from another party's file: nothing converted silently (8192.9 is not
    8192), nothing raised but `ParameterError`."""
    with pytest.raises(ParameterError, match="malformed parameter description"):
        Parameters.from_dict(preset("fast").to_dict() | change)


def test_custom_small_parameters_work_end_to_end() -> None:
    from hedge.ckks import KeySet

    p = Parameters("tiny", 4096, (36, 30), 40, 30)
    keys = KeySet.generate(p, rotations=[1])
    v = keys.public().encrypt([0.5, -0.25])
    assert abs(decrypt_exact(keys, v * 2.0) - [1.0, -0.5]).max() < 1e-3


@pytest.mark.parametrize("name", list(PRESETS))
def test_magnitude_at_each_level_is_what_a_ciphertext_there_holds(name: str) -> None:
    from hedge.ckks import KeySet

    p = preset(name)
    assert p.magnitude_at(0) == p.max_result_magnitude
    assert all(p.magnitude_at(lv + 1) > p.magnitude_at(lv) for lv in range(p.depth))
    with pytest.raises(ParameterError, match="outside 0"):
        p.magnitude_at(p.depth + 1)
    if name != "fast":
        return
    keys = KeySet.generate(p, rotations=[])
    for level in range(p.depth + 1):  # half the stated bound survives at that level
        value = p.magnitude_at(level) / 2
        low = keys.public().encrypt([value], check_range=False).at_level(level)
        assert low.level == level and abs(decrypt_exact(keys, low)[0] - value) < 1e-6 * value
