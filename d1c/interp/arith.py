"""Arithmetic building blocks with a defined order: sequential sums, NaN-propagating max/min,
sequential-K matmul, and access to the fixed FP32 transcendentals of :mod:`d1c.isa.fpmath`.

Every helper is a fixed sequence of numpy float32 (or integer) ufunc calls, each rounded on its
own, vectorised over the dimensions that are not being accumulated, so results do not depend on
numpy's SIMD width or pairwise-summation blocking.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from d1c.errors import UnsupportedError


def fpmath(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The function ``name`` of :mod:`d1c.isa.fpmath` (imported on first use)."""
    try:
        from d1c.isa import fpmath as fm
    except ImportError as err:  # pragma: no cover - only while d1c.isa.fpmath is missing
        raise UnsupportedError(
            f"d1c.isa.fpmath is not available ({err}); '{name}' needs it"
        ) from None
    return getattr(fm, name)


def rows(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """``x`` with ``axes`` moved to the front (in order) and flattened into one leading axis of
    length R, row-major over those axes: row r is the r-th reduced element in C order."""
    axes = list(axes)
    moved = np.moveaxis(x, axes, list(range(len(axes))))
    r = math.prod(x.shape[a] for a in axes)
    return np.ascontiguousarray(moved).reshape((r, *moved.shape[len(axes) :]))


def seq_sum(x: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Sum over ``axes``: ``acc = -0; acc = acc + x_r`` for r = 0..R-1 in row-major order.

    Starting from -0.0 (the additive identity; +0.0 is not: +0 + -0 = +0) makes a sum of -0.0
    terms -0.0 as in torch and numpy, and is what the D1's ``vred`` does. A sum of no terms is
    +0.0, as in torch (it never reaches the D1: fold-constants evaluates empty operands).
    """
    rs = rows(x, axes)
    init = -0.0 if x.dtype.kind == "f" and len(rs) else 0
    acc = np.full(rs.shape[1:], init, dtype=x.dtype)
    for row in rs:
        np.add(acc, row, out=acc)
    return acc


def max2(acc: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x`` if ``x > acc`` or ``x`` is NaN, else ``acc``: NaN propagates, ties keep ``acc``."""
    take = x > acc
    if x.dtype.kind == "f":
        take |= np.isnan(x)
    return np.where(take, x, acc)


def min2(acc: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x`` if ``x < acc`` or ``x`` is NaN, else ``acc``: NaN propagates, ties keep ``acc``."""
    take = x < acc
    if x.dtype.kind == "f":
        take |= np.isnan(x)
    return np.where(take, x, acc)


def seq_fold(x: np.ndarray, axes: Sequence[int], pick: Callable) -> np.ndarray:
    """``acc = x_0; acc = pick(acc, x_r)`` for r = 1..R-1 (max/min); R must be positive."""
    rs = rows(x, axes)
    if rs.shape[0] == 0:
        raise ValueError("max/min over an empty dimension is undefined")
    acc = rs[0]
    for row in rs[1:]:
        acc = pick(acc, row)
    return acc


def matmul_seq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a[..., M, K] @ b[..., K, N]``, batch dims broadcast, the D1 matrix-unit order:
    ``acc = +0; acc = fp32(acc + fp32(a[m, k] * b[k, n]))`` for k = 0..K-1."""
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    at = np.ascontiguousarray(np.moveaxis(a, -1, 0))  # [K, ..., M]
    bt = np.ascontiguousarray(np.moveaxis(b, -2, 0))  # [K, ..., N]
    acc = np.zeros((*batch, m, n), dtype=np.result_type(a, b))
    tmp = np.empty_like(acc)
    for i in range(k):
        np.multiply(at[i][..., :, None], bt[i][..., None, :], out=tmp)
        np.add(acc, tmp, out=acc)
    return acc


def int_power(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``a ** n`` for integer ``0 <= n < 32`` by binary powering: ``r = 1``; for each bit i of
    n from low to high, ``r = r * a^(2^i)`` when the bit is set (``a^(2^i)`` by repeated
    squaring). So ``a**2 = a*a`` and ``a**3 = a*(a*a)``, each product rounded to fp32."""
    r = np.ones(np.broadcast_shapes(a.shape, n.shape), dtype=a.dtype)
    base = a
    for bit in range(5):
        r = np.where((n >> bit) & 1 == 1, r * base, r)
        base = base * base
    return r
