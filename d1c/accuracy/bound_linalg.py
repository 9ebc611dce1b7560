"""Error propagation through sums, max-reductions and matrix products (see
:mod:`d1c.accuracy.bound_arith` for the two bound tracks and the notation).

Sequential fp32 sum of n terms (the interpreter's order: row-major over the reduced axes)
    Each addition errs by at most u|ŝ_k| (the first, 0 + x_1, is exact) and |ŝ_k| <= |s_k| + p + R
    with s_k the reference partial sums, p the terms' propagated error and R the total rounding
    error, so R <= u(Σ_{k>=2}|s_k| + (n-1)p) / (1 - (n-1)u): a running error bound, much tighter
    than the a-priori γ_{n-1}Σ|x|. Propagated: Σe elementwise; along the last axis also
    sqrt(n)·||Δx|| (Cauchy-Schwarz), across rows Σ||Δx_r||.

Matrix product y = a @ b (K terms, numpy batch broadcasting)
    Products are exact in fp32 for narrow storage formats (significands fit in 24 bits) and round
    otherwise (u(|a| + e_a)(|b| + e_b)); each can underflow (η). Elementwise propagated error
    |A|e_B + e_A|B| + e_A e_B, then the sum rule. Row track: Δy = Δa·b + (a·Δb + Δa·Δb), so
    ||Δy[m,:]|| <= ||Δa[m,:]||·||b||_2 + ||(|a|e_B + e_A e_B)[m,:]||: the spectral norm carries
    the error the rows already had, the elementwise form the error of b (fresh rounding errors of
    weights, whose box is the better bound). ||b||_2 is the root of the largest eigenvalue of the
    smaller Gram matrix (float64 eigvalsh, widened by 1e-9 relative), computed once for a batch
    axis along which b repeats one matrix (a broadcast weight).
"""

from __future__ import annotations

import math

import numpy as np

from d1c.accuracy.bound_arith import (
    ETA32,
    F64,
    INF,
    U32,
    Bounded,
    box_row,
    div,
    exact,
    finish,
    local_part,
    rows,
)


def _rows_first(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``x`` with ``axes`` flattened (row-major) into a leading axis: the order of a sum."""
    moved = np.moveaxis(x, axes, tuple(range(len(axes))))
    return moved.reshape((-1, *moved.shape[len(axes) :]))


def running_error(abs_partials: np.ndarray, n: int, p: np.ndarray) -> np.ndarray:
    """Rounding bound of a sequential fp32 sum of n terms (module docstring): ``abs_partials``
    is Σ_{k>=2}|s_k|, ``p`` bounds the error of the summed terms."""
    room = 1.0 - (n - 1) * U32
    if room <= 0:
        return np.full(np.shape(p), INF)
    return U32 * (abs_partials + (n - 1) * p) / room


def _squeeze(b: Bounded, axes: tuple[int, ...], last_reduced: bool) -> Bounded:
    ref, err = np.squeeze(b.ref, axes), np.squeeze(b.err, axes)
    row = None if last_reduced or b.row is None else np.squeeze(b.row, axes)
    return Bounded(ref, err, row)


def reduce_sum(a: Bounded, axes: tuple[int, ...], keepdims: bool = True) -> Bounded:
    """Sequential fp32 sum over ``axes``."""
    if not axes:
        return a
    n = math.prod(a.ref.shape[d] for d in axes)
    ref = np.sum(a.ref, axis=axes, keepdims=True)
    esum = np.sum(a.err, axis=axes, keepdims=True)
    rws = _rows_first(a.ref, axes)
    partial = np.abs(np.cumsum(rws, axis=0)[1:]).sum(axis=0) if n > 1 else np.zeros(rws.shape[1:])
    with np.errstate(invalid="ignore", over="ignore"):
        local = local_part(ref, running_error(partial.reshape(ref.shape), n, esum))
        last = a.ref.ndim - 1
        rin = rows(a)
        if last in axes:
            prefix = tuple(d for d in axes if d != last)
            by_rows = math.sqrt(a.ref.shape[-1]) * np.sum(rin, axis=prefix, keepdims=True)
            err = np.minimum(esum, by_rows[..., None]) + local
            row = box_row(err)
        else:
            err = esum + local
            row = np.sum(rin, axis=axes, keepdims=True) + box_row(local)
    out = finish(ref, err, row, esum == 0)
    return out if keepdims else _squeeze(out, axes, last in axes)


def reduce_max(a: Bounded, axes: tuple[int, ...], keepdims: bool = True) -> Bounded:
    """max (or min: the same bound) over ``axes``: 1-Lipschitz, exact in fp32."""
    if not axes:
        return a
    ref = np.max(a.ref, axis=axes, keepdims=True)
    err = np.max(a.err, axis=axes, keepdims=True)
    last = a.ref.ndim - 1
    rin = rows(a)
    with np.errstate(invalid="ignore", over="ignore"):
        if last in axes:
            prefix = tuple(d for d in axes if d != last)
            err = np.minimum(err, np.max(rin, axis=prefix, keepdims=True)[..., None])
            row = box_row(err)
        else:
            row = np.sqrt(np.sum(rin * rin, axis=axes, keepdims=True))
    out = finish(ref, err, row, err == 0)
    return out if keepdims else _squeeze(out, axes, last in axes)


def scale(a: Bounded, n: float) -> Bounded:
    """a / n for an exact fp32 divisor n (means, average pools)."""
    return div(a, exact(np.asarray(float(n))))


def spectral_norm(b: np.ndarray) -> np.ndarray:
    """An upper bound of ||b||_2 for each matrix of ``b [..., K, N]`` (inf if not finite)."""
    batch = b.shape[:-2]
    same = [_constant_along(b, i) for i in range(len(batch))]
    core = b[tuple(0 if s else slice(None) for s in same)]
    finite = np.all(np.isfinite(core), axis=(-2, -1))
    core = np.where(np.isfinite(core), core, 0.0)
    t = np.swapaxes(core, -1, -2)
    gram = t @ core if core.shape[-1] <= core.shape[-2] else core @ t
    empty = gram.shape[-1] == 0
    lam = np.zeros(gram.shape[:-2]) if empty else np.linalg.eigvalsh(gram)[..., -1]
    s = np.sqrt(np.maximum(lam, 0.0) * (1.0 + 1e-9)) + 1e-300
    s = np.where(finite, s, INF)
    keep = [1 if same[i] else n for i, n in enumerate(batch)]
    return np.broadcast_to(s.reshape(keep), batch)


def _constant_along(b: np.ndarray, axis: int) -> bool:
    """``b`` repeats one matrix along batch ``axis`` (a broadcast weight, maybe materialised)."""
    if b.shape[axis] <= 1 or b.strides[axis] == 0:
        return True
    first = np.take(b, [0], axis=axis)
    return bool(np.array_equal(b, np.broadcast_to(first, b.shape)))


BLOCK = 16  # partial sums taken exactly every BLOCK terms of a matrix product's K loop


def _abs_partial_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An upper bound of Σ_{k>=2} |Σ_{j<=k} a_j b_j| for each output of ``a @ b`` (the matrix
    unit's K loop). Partial sums are computed exactly at the start of each block of
    :data:`BLOCK` terms (one matrix product per block); inside a block |s_k| <= |s_start| +
    Σ_{start<=j<=k} |a_j b_j|, summed in one product with weights (block end - j + 1)."""
    k = a.shape[-1]
    acc = np.zeros(np.matmul(a[..., :1], b[..., :1, :]).shape, F64)
    total = np.zeros_like(acc)
    weight = np.zeros(k)
    for start in range(0, k, BLOCK):
        end = min(start + BLOCK, k)
        total += (end - start) * np.abs(acc)
        weight[start:end] = np.arange(end - start, 0, -1)
        acc += np.matmul(a[..., start:end], b[..., start:end, :])
    return total + np.matmul(np.abs(a) * weight, np.abs(b))


def dot(a: Bounded, b: Bounded, products_exact: bool) -> Bounded:
    """Matrix product ``a @ b`` in the matrix unit's order (module docstring)."""
    k = a.ref.shape[-1]
    ma, mb = np.abs(a.ref), np.abs(b.ref)
    ref = np.matmul(a.ref, b.ref)
    with np.errstate(invalid="ignore", over="ignore"):
        p = np.matmul(ma, b.err) + np.matmul(a.err, mb) + np.matmul(a.err, b.err)
        q = k * ETA32 + (0.0 if products_exact else U32 * np.matmul(ma + a.err, mb + b.err))
        local = local_part(ref, q + running_error(_abs_partial_products(a.ref, b.ref), k, p + q))
        fresh = np.matmul(ma, b.err) + np.matmul(a.err, b.err)  # a·Δb + Δa·Δb
        carried = rows(a)  # the error a's rows already have (none: skip the spectral norm)
        if np.any(carried):
            carried = carried * spectral_norm(b.ref)[..., None]
        row = carried + box_row(fresh) + box_row(local)
    exact_in = bool(np.all(a.err == 0) and np.all(b.err == 0))
    return finish(ref, p + local, row, exact_in)
