"""hedge.ckks — the CKKS engine: presets, keys, encrypted vectors, serialization, parallelism.

Built on Microsoft SEAL (seal-python). Knows nothing about machine learning.

>>> from hedge.ckks import KeySet
>>> keys = KeySet.generate("fast")
>>> bundle = keys.public()                  # share this; keep `keys` secret
>>> v = bundle.encrypt([1.0, 2.0, 3.0])
>>> keys.release((v * 2.5 + 1).sum()).values  # -> array([16.]), flooded and rounded
>>> from hedge.ckks.hazmat import decrypt_exact  # exact, for values that stay with the keys
"""

from hedge.ckks import rotations
from hedge.ckks._poly import polyval_depth
from hedge.ckks.keys import KeySet, PublicBundle
from hedge.ckks.parallel import CkksPool
from hedge.ckks.params import MAX_LOG_Q_128, PRESETS, Parameters, preset
from hedge.ckks.release import Release
from hedge.ckks.vector import EncryptedVector, iter_vectors

__all__ = [
    "MAX_LOG_Q_128",
    "PRESETS",
    "CkksPool",
    "EncryptedVector",
    "KeySet",
    "Parameters",
    "PublicBundle",
    "Release",
    "iter_vectors",
    "polyval_depth",
    "preset",
    "rotations",
]
