"""Counter-based random numbers: every match's initial parameters from its own seed, for a whole
batch in one vectorised computation.

Draw ``i`` of stream ``s`` under seed ``seed`` is ``mix(key + i * phi)`` with ``key =
mix(seed) xor mix(2^40 + s)``, ``mix`` the SplitMix64 finaliser (Steele, Lea & Flood 2014) and
``phi`` the 64-bit golden ratio: it depends on (seed, stream, i) alone, not on which other seeds
share the batch nor on their order. Uniforms take the top 53
bits; normals use Box-Muller on the uniform pairs ``(2i, 2i + 1)``. No library offers a
vectorised counter-based generator over many keys on the CPU (numpy's Philox takes one key per
generator object, torch's Philox is CUDA-only), hence these few lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def uniform(seeds: Sequence[int], count: int, stream: int = 0, offset: int = 0) -> np.ndarray:
    """[len(seeds), count] float64 in (0, 1), draws offset .. offset + count - 1 of ``stream``
    under each seed."""
    seed = np.asarray(seeds, dtype=np.uint64)[:, None]
    counter = np.arange(offset, offset + count, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        key = _splitmix64(seed) ^ _splitmix64(np.uint64(stream) + np.uint64(1 << 40))
        bits = _splitmix64(key + counter * _GOLDEN)
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def normal(seeds: Sequence[int], count: int, stream: int = 0) -> np.ndarray:
    """[len(seeds), count] standard normal draws (Box-Muller)."""
    u = uniform(seeds, 2 * count, stream)
    return np.sqrt(-2.0 * np.log(u[:, 0::2])) * np.cos(2.0 * np.pi * u[:, 1::2])
