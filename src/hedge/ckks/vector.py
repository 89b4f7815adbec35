"""Encrypted vectors of reals: arithmetic, sums, rotations, polynomials and matrix products.

An `EncryptedVector` of length m spans ceil(m / slots) ciphertexts, all at the same level. The slots
past m in the last ciphertext are *padding*; the vector tracks whether its padding is known to be
zero (`clean`) and whether a length-1 vector holds its value in every slot (`replicated`, as left
by `sum`). Operations keep those facts and re-establish them only where needed, so that masking
costs a level only when it cannot be fused into a multiplication that happens anyway.

Depth each operation consumes (levels; `level` is the depth left):

=========================================  ==========================================
``v + w``, ``v - w``, ``-v``, ``v + c``        0
``v * k`` (integer k)                          0
``v * c``, ``v * array``                       1
``v * w`` (encrypted)                          1
``sum()``, ``rotate(k)``                       0 (``rotate`` of a partial vector: 1)
``dot(w)``                                     1
``polyval(c)``, degree d                       ceil(log2(d + 1))
``matmul(M)``                                  1 (+1 if the input padding is not clean)
=========================================  ==========================================

Operands at different levels are brought to the lower one automatically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import seal

from hedge.ckks import _matmul, _poly, _rotate, container
from hedge.ckks._engine import Engine
from hedge.ckks.fields import Fields
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError, ShapeError

if TYPE_CHECKING:
    from hedge.ckks.keys import PublicBundle

__all__ = ["EncryptedVector", "iter_vectors"]

_TAG_CIPHERTEXT = 1
Operand = Any  # EncryptedVector | float | int | np.ndarray


def as_real_array(values: Any, what: str = "values") -> np.ndarray:
    """A finite 1-D float64 array, or `ShapeError` / `ParameterError` saying what is wrong."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{what} must be real numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ShapeError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError(f"{what} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{what} contain NaN or infinity; clean the data before encrypting")
    return arr


class EncryptedVector:
    """A CKKS-encrypted vector of `length` reals under one `PublicBundle`."""

    __slots__ = ("bundle", "ciphertexts", "clean", "length", "replicated")
    __array_ufunc__ = None  # numpy operands on the left defer to our reflected operators

    def __init__(self, bundle: PublicBundle, ciphertexts: Sequence[seal.Ciphertext], length: int,
                 *, clean: bool = True, replicated: bool = False) -> None:
        self.bundle = bundle
        self.ciphertexts = list(ciphertexts)
        self.length = length
        self.clean = clean
        self.replicated = replicated

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def encrypt(cls, bundle: PublicBundle, values: Any, *,
                check_range: bool = True) -> EncryptedVector:
        arr = as_real_array(values)
        eng = bundle.engine
        limit = bundle.params.max_result_magnitude
        if check_range and np.max(np.abs(arr)) > limit:
            raise ParameterError(
                f"values up to {np.max(np.abs(arr)):.3g} exceed what the preset can hold "
                f"(|x| < {limit:g}); scale the data first"
            )
        top, scale = eng.top_level, eng.scales[eng.top_level]
        cts = [bundle.encrypt_plain(eng.encode(chunk, top, scale))
               for chunk in _split(arr, eng.slots)]
        return cls(bundle, cts, arr.size)

    def _new(self, cts: Sequence[seal.Ciphertext], length: int | None = None, *,
             clean: bool, replicated: bool = False) -> EncryptedVector:
        return EncryptedVector(self.bundle, cts, self.length if length is None else length,
                               clean=clean, replicated=replicated)

    # -- facts ----------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.bundle.engine

    @property
    def fingerprint(self) -> str:
        return self.bundle.fingerprint

    @property
    def level(self) -> int:
        """Multiplicative depth left (0 = no more multiplications)."""
        return int(self.engine.level_of(self.ciphertexts[0]))

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (f"EncryptedVector(length={self.length}, ciphertexts={len(self.ciphertexts)}, "
                f"level={self.level}, preset={self.bundle.params.name!r})")

    # -- helpers -----------------------------------------------------------------------------

    def _chunks(self, arr: np.ndarray) -> list[np.ndarray]:
        return _split(arr, self.engine.slots)

    def _pairs(self, other: EncryptedVector) -> tuple[list[tuple[Any, Any]], int]:
        """Ciphertext pairs for an element-wise operation, broadcasting replicated scalars."""
        self.bundle.check_compatible(other.bundle)
        if self.length == other.length and len(self.ciphertexts) == len(other.ciphertexts):
            return list(zip(self.ciphertexts, other.ciphertexts, strict=True)), self.length
        if other.replicated:
            return [(c, other.ciphertexts[0]) for c in self.ciphertexts], self.length
        if self.replicated:
            return [(self.ciphertexts[0], c) for c in other.ciphertexts], other.length
        raise ShapeError(f"lengths {self.length} and {other.length} do not match")

    def _plain_operand(self, other: Operand) -> np.ndarray | float | None:
        """A checked plaintext operand, or None for types hedge does not combine with."""
        if isinstance(other, np.ndarray | list | tuple):
            arr = as_real_array(other, "plaintext operand")
            if arr.size == 1 and self.length == 1:
                return float(arr[0])
            if arr.size != self.length and not (self.replicated and arr.size >= 1):
                raise ShapeError(f"plaintext of length {arr.size} does not match {self.length}")
            return arr
        if isinstance(other, int | float | np.integer | np.floating):
            value = float(other)
            if not math.isfinite(value):
                raise ParameterError("scalar operand is NaN or infinite")
            return value
        return None

    def _plain_slots(self, value: np.ndarray | float) -> tuple[list[Any], int]:
        """Per-ciphertext slot contents for a plaintext operand, keeping padding zero."""
        if isinstance(value, np.ndarray):  # a replicated scalar broadcasts to the array's length
            return self._chunks(value), value.size if self.replicated else self.length
        if self.replicated:
            return [value], 1
        # a constant fills whole ciphertexts as is (cheap to encode); a partial one is padded
        slots = self.engine.slots
        return [value if chunk.size == slots else chunk
                for chunk in self._chunks(np.full(self.length, value))], self.length

    # -- arithmetic --------------------------------------------------------------------------

    def __add__(self, other: Operand) -> EncryptedVector:
        return self._add(other, negate_other=False)

    def __radd__(self, other: Operand) -> EncryptedVector:
        return self._add(other, negate_other=False)

    def __sub__(self, other: Operand) -> EncryptedVector:
        return self._add(other, negate_other=True)

    def __rsub__(self, other: Operand) -> EncryptedVector:
        if self._plain_operand(other) is None:
            return NotImplemented
        return (-self)._add(other, negate_other=False)

    def __neg__(self) -> EncryptedVector:
        eng = self.engine
        return self._new([eng.negate(c) for c in self.ciphertexts], clean=self.clean,
                         replicated=self.replicated)

    def _add(self, other: Operand, *, negate_other: bool) -> EncryptedVector:
        eng = self.engine
        if isinstance(other, EncryptedVector):
            pairs, length = self._pairs(other)
            op = eng.sub if negate_other else eng.add
            return self._new([self._nonzero(op, a, b) for a, b in pairs], length,
                             clean=self.clean and other.clean,
                             replicated=self.replicated and other.replicated)
        value = self._plain_operand(other)
        if value is None:
            return NotImplemented  # type: ignore[no-any-return]
        if negate_other:
            value = -value
        slots, length = self._plain_slots(value)
        if length != self.length:  # replicated scalar + plaintext vector
            cts = [eng.add_plain(self.ciphertexts[0], s) for s in slots]
            return self._new(cts, length, clean=False)
        cts = [eng.add_plain(c, s) for c, s in zip(self.ciphertexts, slots, strict=True)]
        return self._new(cts, clean=self.clean, replicated=self.replicated)

    def __mul__(self, other: Operand) -> EncryptedVector:
        eng = self.engine
        if isinstance(other, EncryptedVector):
            pairs, length = self._pairs(other)
            relin = self.bundle.relin_keys
            return self._new([eng.multiply(a, b, relin) for a, b in pairs], length,
                             clean=self.clean or other.clean,
                             replicated=self.replicated and other.replicated)
        value = self._plain_operand(other)
        if value is None:
            return NotImplemented
        if isinstance(value, float) and value == 0.0:
            return self._zeros()
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**20:
            return self._new([eng.mul_integer(c, int(value)) for c in self.ciphertexts],
                             clean=self.clean, replicated=self.replicated)
        eng.require_depth("multiplication by a plaintext", 1, self.level)
        target = self.level - 1
        if isinstance(value, float) and (self.clean or self.replicated):
            return self.scaled_to(value, target)
        slots, length = self._plain_slots(value)
        sources = self.ciphertexts if length == self.length else [self.ciphertexts[0]] * len(slots)
        cts = [eng.mul_plain_to(c, s, target) for c, s in zip(sources, slots, strict=True)]
        return self._new(cts, length, clean=True)

    __rmul__ = __mul__

    def scaled_to(self, factor: float, level: int) -> EncryptedVector:
        """factor * self, landing at `level` (below the current one) in one multiplication.

        Consumes self.level - level levels; padding slots are scaled too (zero stays zero)."""
        eng = self.engine
        eng.require_depth("multiplication by a constant", self.level - level, self.level)
        if level >= self.level:
            raise ParameterError(f"level {level} is not below the vector's level {self.level}")
        return self._new([eng.mul_plain_to(c, factor, level) for c in self.ciphertexts],
                         clean=self.clean, replicated=self.replicated)

    def head(self, n: int) -> EncryptedVector:
        """The first n elements as a vector of length n (zero padding): depth 1 (a 0/1 mask),
        0 if the vector is already clean and n covers it."""
        if not 1 <= n <= self.length:
            raise ShapeError(f"head({n}) of a vector of length {self.length}")
        if self.replicated:
            return self if n == 1 else self._new(self.ciphertexts, clean=False)
        if self.clean and n == self.length:
            return self
        return self._new(self.ciphertexts[: -(-n // self.engine.slots)], n, clean=False).cleaned()

    def truncated(self, n: int) -> EncryptedVector:
        """The first n elements as a vector of length n, without masking: depth 0. Slots beyond n
        keep what they held (the vector is not clean; `cleaned` zeroes them, one level)."""
        if not 1 <= n <= self.length:
            raise ShapeError(f"truncated({n}) of a vector of length {self.length}")
        if n == self.length:
            return self
        return self._new(self.ciphertexts[: -(-n // self.engine.slots)], n, clean=False)

    def at_level(self, level: int) -> EncryptedVector:
        """The same values at a lower level: smaller ciphertexts and cheaper operations, at the
        price of the depth given up. No-op at the current level."""
        return self if level == self.level else self.scaled_to(1.0, level)

    def _nonzero(self, op: Any, a: seal.Ciphertext, b: seal.Ciphertext) -> seal.Ciphertext:
        """op(a, b), or a fresh encryption of zero where the result cancels exactly (SEAL
        refuses such 'transparent' ciphertexts)."""
        try:
            return op(a, b)
        except RuntimeError as exc:
            if "transparent" not in str(exc):
                raise
        eng = self.engine
        level = min(eng.level_of(a), eng.level_of(b))
        return self.bundle.encrypt_plain(eng.encode(0.0, level, eng.scales[level]))

    def _zeros(self) -> EncryptedVector:
        """Fresh encryptions of zero at this vector's level (SEAL refuses all-zero ciphertexts)."""
        eng, level = self.engine, self.level
        zero = eng.encode(0.0, level, eng.scales[level])
        return self._new([self.bundle.encrypt_plain(zero) for _ in self.ciphertexts],
                         clean=True, replicated=self.replicated)

    def cleaned(self) -> EncryptedVector:
        """This vector with zero padding (multiplies by a 0/1 mask: one level, if not clean)."""
        if self.clean:
            return self
        eng = self.engine
        eng.require_depth("masking the padding", 1, self.level)
        masks = self._chunks(np.ones(self.length))
        return self._new([eng.mul_plain_to(c, m, self.level - 1)
                          for c, m in zip(self.ciphertexts, masks, strict=True)], clean=True)

    # -- reductions and permutations ----------------------------------------------------------

    def sum(self) -> EncryptedVector:
        """Sum of all elements, as a length-1 vector holding the total in every slot.

        Depth 0 (1 if the padding is not clean); log2(slots) rotations."""
        if self.replicated:
            return self
        v = self.cleaned()
        eng, b = self.engine, self.bundle
        total = eng.add_many(v.ciphertexts)
        step = 1
        while step < eng.slots:
            total = eng.evaluator.add(total, eng.rotate(total, step, b.galois_keys,
                                                         b.available_steps))
            step *= 2
        return self._new([total], 1, clean=False, replicated=True)

    def dot(self, other: EncryptedVector | np.ndarray) -> EncryptedVector:
        """Inner product (length-1, replicated). Depth 1."""
        return (self * other).sum()

    def rotate(self, k: int) -> EncryptedVector:
        """Cyclic rotation like ``np.roll(x, -k)`` over the vector's length.

        Depth 0 when the vector fills exactly one ciphertext, else 1 (masking)."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise ParameterError(f"rotation step must be an integer, got {k!r}")
        return _rotate.rotate(self, int(k))

    def polyval(self, coeffs: Sequence[float]) -> EncryptedVector:
        """Evaluate c0 + c1 x + ... + cd x^d element-wise (coefficients in increasing order,
        like ``numpy.polynomial.polynomial.polyval``). Depth ceil(log2(d + 1))."""
        return _poly.polyval(self, coeffs)

    def matmul(self, matrix: Any) -> EncryptedVector:
        """``x @ M`` for a plaintext matrix M of shape (len(x), d_out), by the diagonal method with
        baby-step giant-step rotations and block packing. Depth 1 (+1 if padding not clean)."""
        return _matmul.matmul(self, matrix)

    __matmul__ = matmul

    # -- serialization ------------------------------------------------------------------------

    def _header(self) -> dict[str, Any]:
        return {
            "param_id": self.bundle.params.param_id,
            "fingerprint": self.fingerprint,
            "length": self.length,
            "level": self.level,
            "clean": self.clean,
            "replicated": self.replicated,
            "count": len(self.ciphertexts),
        }

    def write(self, stream: IO[bytes]) -> int:
        """Write one container to a binary stream; returns bytes written."""
        records = ((_TAG_CIPHERTEXT, c.to_string()) for c in self.ciphertexts)
        return container.write_container(stream, container.Kind.VECTOR, self._header(), records)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.write(buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, bundle: PublicBundle) -> EncryptedVector:
        """Parse and validate one vector.

        Foreign keys or parameters raise `KeyMismatchError`; bad bytes `CorruptDataError`."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CorruptDataError(f"expected bytes, got {type(data).__name__}")
        stream = io.BytesIO(data)
        vector = cls.read(stream, bundle)
        if stream.read(1):
            raise CorruptDataError("corrupted ciphertext data: bytes after the end record")
        return vector

    @classmethod
    def read(cls, stream: IO[bytes], bundle: PublicBundle) -> EncryptedVector:
        """Read one vector from a stream, validating each ciphertext as it arrives."""
        header, records = container.read_container(stream, container.Kind.VECTOR)
        return cls._from_container(header.fields, records, bundle)

    @classmethod
    def _from_container(cls, fields: dict[str, Any], records: Iterator[tuple[int, bytes]],
                        bundle: PublicBundle) -> EncryptedVector:
        eng = bundle.engine
        header = Fields(fields, "ciphertext header")
        param_id = header.string("param_id", max_length=256)
        fingerprint = header.string("fingerprint", max_length=256)
        if param_id != bundle.params.param_id:
            raise KeyMismatchError(
                f"ciphertext was made with other parameters ({param_id[:12]}…) than the bundle "
                f"({bundle.params.param_id[:12]}…); use the bundle it was encrypted under")
        if fingerprint != bundle.fingerprint:
            raise KeyMismatchError(
                f"ciphertext belongs to key set {fingerprint[:12]}…, not to this bundle "
                f"({bundle.fingerprint[:12]}…)")
        length = header.integer("length", 1, container.MAX_LENGTH)
        level = header.integer("level", 0, eng.top_level)
        clean, replicated = header.boolean("clean"), header.boolean("replicated")
        if replicated and length != 1:
            raise CorruptDataError(f"ciphertext header is inconsistent: field 'replicated' is "
                                   f"true for a vector of length {length} (only a total, of "
                                   "length 1, is replicated)")
        expected_count = 1 if replicated else -(-length // eng.slots)
        count = header.integer("count", 1, container.MAX_LENGTH)
        if count != expected_count:
            raise CorruptDataError(f"ciphertext header is inconsistent: field 'count' is "
                                   f"{count}, but a vector of length {length} spans "
                                   f"{expected_count} ciphertext(s)")
        cts: list[seal.Ciphertext] = []
        for tag, payload in records:
            if len(cts) == count:
                raise CorruptDataError(f"ciphertext data holds more than the {count} "
                                       "ciphertext(s) its header declares")
            cts.append(_load_ciphertext(eng, tag, payload, level))
        if len(cts) != count:
            raise CorruptDataError(f"expected {count} ciphertexts, found {len(cts)}")
        return cls(bundle, cts, length, clean=clean, replicated=replicated)


def iter_vectors(stream: IO[bytes], bundle: PublicBundle) -> Iterator[EncryptedVector]:
    """Read consecutive vector containers from a stream until it ends (incremental)."""
    while (found := container.read_container(stream, container.Kind.VECTOR, allow_eof=True)):
        header, records = found
        yield EncryptedVector._from_container(header.fields, records, bundle)


def _load_ciphertext(eng: Engine, tag: int, payload: bytes, level: int) -> seal.Ciphertext:
    if tag != _TAG_CIPHERTEXT:
        raise CorruptDataError(f"unexpected record (tag {tag}) in ciphertext data")
    ct = seal.Ciphertext()
    try:
        ct.load_bytes(eng.context, payload)
    except container.SEAL_LOAD_ERRORS as exc:
        raise CorruptDataError(f"ciphertext does not parse for these parameters: {exc}") from exc
    if ct.is_transparent():
        raise CorruptDataError("ciphertext is transparent (no encryption): refusing it")
    if ct.size() != 2 or eng.level_of(ct) != level:
        raise CorruptDataError("ciphertext size or level does not match its header")
    if not math.isclose(ct.scale(), eng.scales[level], rel_tol=1e-9):
        raise CorruptDataError("ciphertext scale does not match its level")
    return ct


def _split(arr: np.ndarray, slots: int) -> list[np.ndarray]:
    return [arr[i : i + slots] for i in range(0, arr.size, slots)]
