"""CKKS parameter sets: named presets and validated custom parameters.

A parameter set fixes the ring degree N (N/2 complex slots, hedge uses them as real slots),
the chain of RNS primes and the scale. The chain is written as ``data_bits`` (q0, q1, ..., qL)
plus one ``special_bits`` prime used only for key switching. q0 is the last prime left after all
rescales and bounds the magnitude of results; q1..qL are ~``scale_bits`` primes, one consumed per
multiplication, so the multiplicative depth is L = len(data_bits) - 1. The special prime must be
larger than every data prime (measured: rotation error 4e-6 with it 2 bits smaller, 2e-8 with it
2 bits larger).

Security: the total bit count of all primes must not exceed the 128-bit classical bound of the
Homomorphic Encryption Standard (ternary secret), which SEAL also enforces.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from hedge.errors import ParameterError

__all__ = ["MAX_LOG_Q_128", "PRESETS", "Parameters", "preset"]

#: Maximum total coefficient-modulus bits for 128-bit security (HE Standard, ternary secret).
MAX_LOG_Q_128: dict[int, int] = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}

_MAX_PRIME_BITS = 60
_MIN_PRIME_BITS = 20


@dataclass(frozen=True)
class Parameters:
    """A validated CKKS parameter set (immutable, hashable).

    Construct through `preset(name)` or directly for custom parameters; the constructor refuses
    anything above the 128-bit security bound with `ParameterError`.
    """

    name: str
    poly_modulus_degree: int
    data_bits: tuple[int, ...]
    special_bits: int
    scale_bits: int
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_bits", tuple(int(b) for b in self.data_bits))
        n = self.poly_modulus_degree
        if n not in MAX_LOG_Q_128:
            raise ParameterError(
                f"poly_modulus_degree {n} is not supported; use one of {sorted(MAX_LOG_Q_128)}"
            )
        if len(self.data_bits) < 2:
            raise ParameterError("data_bits needs at least two primes (q0 and one scale prime)")
        for bits in (*self.data_bits, self.special_bits):
            if not _MIN_PRIME_BITS <= bits <= _MAX_PRIME_BITS:
                raise ParameterError(
                    f"prime size {bits} bits is outside [{_MIN_PRIME_BITS}, {_MAX_PRIME_BITS}]"
                )
        if self.total_bits > MAX_LOG_Q_128[n]:
            raise ParameterError(
                f"{self.total_bits} bits of coefficient modulus exceed the 128-bit security bound "
                f"of {MAX_LOG_Q_128[n]} bits for N={n}; remove primes or use a larger N"
            )
        if not 20 <= self.scale_bits < self.data_bits[0]:
            raise ParameterError(
                f"scale_bits {self.scale_bits} must be at least 20 and below the first prime "
                f"({self.data_bits[0]} bits), or decrypted values overflow"
            )
        if self.special_bits <= max(self.data_bits):
            raise ParameterError(
                "the special (key-switching) prime must be larger than every data prime, or "
                "rotations and relinearisation lose precision; raise special_bits"
            )

    @property
    def slot_count(self) -> int:
        """Number of real values one ciphertext holds (N/2)."""
        return self.poly_modulus_degree // 2

    @property
    def depth(self) -> int:
        """Multiplicative depth of a fresh ciphertext (number of rescales available)."""
        return len(self.data_bits) - 1

    @property
    def total_bits(self) -> int:
        """Total bits of the coefficient modulus including the special prime."""
        return sum(self.data_bits) + self.special_bits

    @property
    def max_result_magnitude(self) -> float:
        """Largest |value| a ciphertext can hold at the last level without wrapping around."""
        return float(2 ** (self.data_bits[0] - self.scale_bits - 1))

    def magnitude_at(self, level: int) -> float:
        """Largest |value| a ciphertext at chain `level` holds without wrapping around (the
        primes q0..q_level over twice the scale; `max_result_magnitude` at level 0)."""
        if not 0 <= level <= self.depth:
            raise ParameterError(f"level {level} is outside 0..{self.depth} of this preset")
        return float(2 ** (sum(self.data_bits[: level + 1]) - self.scale_bits - 1))

    @property
    def param_id(self) -> str:
        """Stable identifier of this parameter set (hex), carried by every serialized object."""
        body = {k: v for k, v in asdict(self).items() if k not in ("name", "description")}
        raw = json.dumps(body, sort_keys=True).encode()
        return hashlib.sha256(b"hedge-ckks-params-v1" + raw).hexdigest()[:32]

    def to_dict(self) -> dict[str, object]:
        """Plain-data form (JSON-serializable)."""
        d = asdict(self)
        d["data_bits"] = list(self.data_bits)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Parameters:
        """Inverse of `to_dict`, with exact types (whole numbers are ints, not bools or floats;
        the name and description texts); validates like the constructor. `ParameterError`
        naming the field otherwise."""
        def whole(key: str, value: object) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParameterError(f"malformed parameter description: field {key!r} must be "
                                     f"a whole number, not {value!r:.40}")
            return value

        if not isinstance(data, dict):
            raise ParameterError("malformed parameter description: not an object")
        try:
            name, description = data["name"], data.get("description", "")
            bits = data["data_bits"]
            if not isinstance(name, str) or not isinstance(description, str):
                raise ParameterError("malformed parameter description: fields 'name' and "
                                     "'description' must be texts")
            if not isinstance(bits, list | tuple) or len(bits) > 64:
                raise ParameterError("malformed parameter description: field 'data_bits' must "
                                     "be a list of at most 64 whole numbers")
            return cls(
                name=name,
                poly_modulus_degree=whole("poly_modulus_degree", data["poly_modulus_degree"]),
                data_bits=tuple(whole("data_bits", b) for b in bits),
                special_bits=whole("special_bits", data["special_bits"]),
                scale_bits=whole("scale_bits", data["scale_bits"]),
                description=description,
            )
        except KeyError as exc:
            raise ParameterError(f"malformed parameter description: field {exc} is "
                                 "missing") from exc


PRESETS: dict[str, Parameters] = {
    p.name: p
    for p in (
        Parameters(
            name="fast",
            poly_modulus_degree=8192,
            data_bits=(48, 40, 40, 40),
            special_bits=50,
            scale_bits=40,
            description="N=8192, depth 3, scale 2^40, |x| < 128 at the last level: tests, "
            "inference, shallow statistics",
        ),
        Parameters(
            name="standard",
            poly_modulus_degree=16384,
            data_bits=(58, *([40] * 8)),
            special_bits=60,
            scale_bits=40,
            description="N=16384, depth 8, scale 2^40, |x| < 2^17 at the last level: training "
            "with owner-assisted refresh",
        ),
        Parameters(
            name="deep",
            poly_modulus_degree=32768,
            data_bits=(58, *([40] * 19)),
            special_bits=60,
            scale_bits=40,
            description="N=32768, depth 19, scale 2^40, |x| < 2^17 at the last level: "
            "non-interactive training",
        ),
    )
}


def preset(name: str) -> Parameters:
    """Return the named preset (`fast`, `standard`, `deep`), or raise `ParameterError`."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError(
            f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None
