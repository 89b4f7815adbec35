"""Per-parameter-set engine state and level/scale management over raw SEAL objects.

Scale discipline (the invariant everything else relies on): a ciphertext at chain level l always
has the *canonical* scale S_l, where S_0 = 2^scale_bits and S_l = sqrt(S_{l-1} * q_l). Then

* ciphertext x ciphertext at level l has scale S_l^2; rescaling by q_l gives exactly S_{l-1};
* ciphertext x plaintext that should land at level t < l: mod-switch the ciphertext to t+1 and
  encode the plaintext at scale S_t * q_{t+1} / S_l, so that the rescale lands exactly on S_t;
* additions therefore never see mismatched scales, and bringing a ciphertext down to a lower level
  is a multiplication by the constant 1 fused into that rule.

Building the table from the bottom makes scale drift shrink with depth instead of doubling.
This module knows nothing about vectors, keys files or ML: only SEAL objects and levels.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import seal

from hedge.ckks.params import Parameters
from hedge.errors import DepthExhaustedError, ParameterError, RotationKeyError

FloatArray = np.ndarray


class Engine:
    """SEAL context, encoder and evaluator for one parameter set, plus its level/scale table."""

    def __init__(self, params: Parameters) -> None:
        self.params = params
        parms = seal.EncryptionParameters(seal.scheme_type.ckks)
        parms.set_poly_modulus_degree(params.poly_modulus_degree)
        bits = [*params.data_bits, params.special_bits]
        try:
            parms.set_coeff_modulus(seal.CoeffModulus.Create(params.poly_modulus_degree, bits))
            self.context = seal.SEALContext(parms, True, seal.sec_level_type.tc128)
        except (ValueError, RuntimeError) as exc:  # pragma: no cover - guarded by Parameters
            raise ParameterError(f"SEAL refused the parameters: {exc}") from exc
        if not self.context.parameters_set():
            raise ParameterError(
                f"SEAL refused the parameters: {self.context.parameter_error_message()}"
            )
        self.encoder = seal.CKKSEncoder(self.context)
        self.evaluator = seal.Evaluator(self.context)
        self.slots = self.encoder.slot_count()
        self.top_level = params.depth
        self.primes = [m.value() for m in parms.coeff_modulus()[: len(params.data_bits)]]
        self._parms_ids: list[list[int]] = [[] for _ in range(self.top_level + 1)]
        data = self.context.first_context_data()
        while data is not None:
            self._parms_ids[data.chain_index()] = data.parms_id()
            data = data.next_context_data()
        scales = [float(2**params.scale_bits)]
        for level in range(1, self.top_level + 1):
            scales.append(math.sqrt(scales[-1] * self.primes[level]))
        self.scales = scales

    # -- levels -------------------------------------------------------------------------------

    def level_of(self, obj: seal.Ciphertext | seal.Plaintext) -> int:
        """Chain level of a ciphertext or plaintext: depth it has left."""
        return int(self.context.get_context_data(obj.parms_id()).chain_index())

    def parms_id_at(self, level: int) -> list[int]:
        """SEAL's parms id of chain `level`."""
        return self._parms_ids[level]

    def require_depth(self, operation: str, needed: int, available: int) -> None:
        """Raise `DepthExhaustedError` before SEAL would fail."""
        if needed > available:
            raise DepthExhaustedError(operation, needed, available)

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, values: FloatArray | float, level: int, scale: float) -> seal.Plaintext:
        """Encode a slot vector (zero-padded) or a constant directly at `level` and `scale`."""
        if isinstance(values, np.ndarray):
            if values.size < self.slots:
                padded = np.zeros(self.slots)
                padded[: values.size] = values
                values = padded
            plain = self.encoder.encode(values, scale)
        else:
            plain = self.encoder.encode(float(values), scale)
        if level != self.top_level:
            self.evaluator.mod_switch_to_inplace(plain, self._parms_ids[level])
        return plain

    def decode(self, plain: seal.Plaintext) -> FloatArray:
        return np.asarray(self.encoder.decode(plain))

    # -- arithmetic on raw ciphertexts -----------------------------------------------------------

    def fix_scale(self, ct: seal.Ciphertext) -> seal.Ciphertext:
        ct.scale(self.scales[self.level_of(ct)])
        return ct

    def mul_plain_to(
        self, ct: seal.Ciphertext, values: FloatArray | float, target: int
    ) -> seal.Ciphertext:
        """ct * values, landing at level `target` (< level of ct) with the canonical scale."""
        level = self.level_of(ct)
        # landing at `target` uses level - target levels; a negative target exceeds the budget
        self.require_depth("multiplication by a plaintext", level - target, level)
        if target >= level:
            raise ValueError("target level must be below the ciphertext level")
        ev = self.evaluator
        if level > target + 1:
            ct = ev.mod_switch_to(ct, self._parms_ids[target + 1])
        scale = self.scales[target] * self.primes[target + 1] / self.scales[level]
        plain = self.encode(values, target + 1, scale)
        if plain.is_zero():
            # every value rounds to 0 at this scale; SEAL refuses the resulting transparent
            # ciphertext, so multiply by the smallest encodable constant (1/scale ~ 1e-12,
            # far below CKKS noise) instead
            plain = self.encode(1.0 / scale, target + 1, scale)
        out = ev.multiply_plain(ct, plain)
        ev.rescale_to_next_inplace(out)
        return self.fix_scale(out)

    def drop_to(self, ct: seal.Ciphertext, target: int) -> seal.Ciphertext:
        """Bring a ciphertext down to level `target` keeping its value (no-op at that level)."""
        if self.level_of(ct) == target:
            return ct
        return self.mul_plain_to(ct, 1.0, target)

    def align(self, cts: Sequence[seal.Ciphertext]) -> list[seal.Ciphertext]:
        """Bring ciphertexts to their lowest common level."""
        low = min(self.level_of(c) for c in cts)
        return [self.drop_to(c, low) for c in cts]

    def multiply(
        self, a: seal.Ciphertext, b: seal.Ciphertext, relin: seal.RelinKeys
    ) -> seal.Ciphertext:
        """a * b with relinearisation and rescale: consumes one level below the lower operand."""
        a, b = self.align([a, b])
        self.require_depth("ciphertext multiplication", 1, self.level_of(a))
        ev = self.evaluator
        out = ev.square(a) if a is b else ev.multiply(a, b)
        ev.relinearize_inplace(out, relin)
        ev.rescale_to_next_inplace(out)
        return self.fix_scale(out)

    def add(self, a: seal.Ciphertext, b: seal.Ciphertext) -> seal.Ciphertext:
        a, b = self.align([a, b])
        return self.evaluator.add(a, b)

    def sub(self, a: seal.Ciphertext, b: seal.Ciphertext) -> seal.Ciphertext:
        a, b = self.align([a, b])
        return self.evaluator.sub(a, b)

    def add_many(self, cts: Sequence[seal.Ciphertext]) -> seal.Ciphertext:
        aligned = self.align(cts)
        return aligned[0] if len(aligned) == 1 else self.evaluator.add_many(aligned)

    def add_plain(self, ct: seal.Ciphertext, values: FloatArray | float) -> seal.Ciphertext:
        level = self.level_of(ct)
        return self.evaluator.add_plain(ct, self.encode(values, level, self.scales[level]))

    def negate(self, ct: seal.Ciphertext) -> seal.Ciphertext:
        return self.evaluator.negate(ct)

    def mul_integer(self, ct: seal.Ciphertext, k: int) -> seal.Ciphertext:
        """ct * k for an integer k: exact, consumes no level."""
        plain = self.encoder.encode(int(k))
        level = self.level_of(ct)
        if level != self.top_level:
            self.evaluator.mod_switch_to_inplace(plain, self._parms_ids[level])
        out = self.evaluator.multiply_plain(ct, plain)
        return self.fix_scale(out)

    def rotate(
        self, ct: seal.Ciphertext, step: int, galois: seal.GaloisKeys, available: frozenset[int]
    ) -> seal.Ciphertext:
        """Rotate slots left by `step` (np.roll(x, -step)), composing available Galois keys."""
        for part in decompose_rotation(step % self.slots, self.slots, available):
            ct = self.evaluator.rotate_vector(ct, part, galois)
        return ct


@functools.lru_cache(maxsize=8)
def engine_for(params: Parameters) -> Engine:
    """The shared `Engine` for a parameter set (created once per process)."""
    return Engine(params)


def power_of_two_steps(slots: int) -> tuple[int, ...]:
    """The default rotation set: +-2^i for every 2^i < slots (every rotation composes from it)."""
    steps: list[int] = []
    k = 1
    while k < slots:
        steps += [k, -k]
        k *= 2
    return tuple(steps)


@functools.lru_cache(maxsize=4096)
def decompose_rotation(step: int, slots: int, available: frozenset[int]) -> tuple[int, ...]:
    """Shortest sequence of available steps whose sum is `step` modulo `slots`.

    Raises `RotationKeyError` if no combination of the available Galois keys reaches the step.
    """
    step %= slots
    if step == 0:
        return ()
    normalized = {s % slots for s in available if s % slots}
    if step in normalized:
        return (_signed(step, slots, available),)
    # breadth-first search over residues; the graph is small (slots <= 16384 nodes)
    parents: dict[int, tuple[int, int]] = {0: (0, 0)}
    frontier = [0]
    while frontier and step not in parents:
        nxt: list[int] = []
        for node in frontier:
            for s in normalized:
                r = (node + s) % slots
                if r not in parents:
                    parents[r] = (node, s)
                    nxt.append(r)
        frontier = nxt
    if step not in parents:
        raise RotationKeyError(
            f"rotation by {step} cannot be composed from the bundle's Galois keys "
            f"{sorted(available)}; generate keys with the steps from "
            "hedge.ckks.rotations.steps_for_*"
        )
    path: list[int] = []
    node = step
    while node:
        node, s = parents[node]
        path.append(_signed(s, slots, available))
    return tuple(reversed(path))


def _signed(residue: int, slots: int, available: frozenset[int]) -> int:
    """The available step (possibly negative) that equals `residue` modulo `slots`."""
    for s in available:
        if s % slots == residue:
            return s
    return residue  # pragma: no cover - residue always comes from `available`


def galois_element(step: int, poly_modulus_degree: int) -> int:
    """SEAL's Galois element for a left rotation by `step` slots (generator 3 modulo 2N)."""
    slots = poly_modulus_degree // 2
    return pow(3, step % slots, 2 * poly_modulus_degree)
