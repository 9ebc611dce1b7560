"""Direct error rules of softmax, log_softmax and layer_norm (see :mod:`d1c.accuracy.bound_arith` for the
notation: u = 2^-24, η = 2^-150, e elementwise and ||Δ|| row bounds of the input error).

Through their decomposition into primitives these ops lose the correlation between the numerator
and the denominator (a softmax sum known to ±50% looks like a division by an interval near zero),
so each gets a derived rule: error = propagated (the exact op at x̂ vs at x, with the correlation)
+ local (the interpreter's fp32 evaluation at x̂ vs the exact op at x̂, with every magnitude taken
at its worst over the input box). λ(t) = t/(1 - t) turns a relative error t into a log-relative
one (1 + t <= e^t, 1 - t >= e^-λ(t)); c_f = (ulp_f + 1)·2^-23 is the relative fpmath bound.

softmax (s = e^(x - m) / Σ e^(x - m), along ``dim``)
    propagated: s'_i/s_i = e^δ_i / Σ_j s_j e^δ_j ∈ [e^-(e_i+E), e^(e_i+E)] with E = max_j e_j, so
    |Δs_i| <= s_i·expm1(e_i + E) (exact, not first order); along the last axis also
    ||Δs|| <= ||Δx||/2 (the Jacobian diag(s) - ssᵀ has norm <= max 2s_i(1 - s_i) <= 1/2).
    local: with a_i = |x_i - m| + e_i + E >= |x̂_i - m̂|, the computed ŝ_i/s_i(x̂) lies in
    e^±L_i, L_i = u·a_i + u·max a + 2λ(c_exp) + λ(γ_(n-1)) + λ(u) (rounding of x - m, exp of the
    numerator and the weighted mean of the denominator's factors, sequential sum, division),
    plus 2(n+1)·T_exp for exp's denormal tail. Exactly masked entries (x = -inf) give exact 0.
    *Dead* entries — at least 200 below the row's max wherever the errors put them, as a
    saturated ``finfo.min`` mask makes them, with errors of ~1e36 — are computed as exactly 0
    and are exactly below e^-200: their error is e^-200, E and max a run over the other (live)
    entries only (a live entry attains the max), and the live entries' relative error grows by
    λ(n·e^-200) for the dead ones' share of the exact sum.

log_softmax (x - m - log Σ e^(x - m))
    propagated e_i + E + n·e^-200 (log-sum-exp is 1-Lipschitz in the max norm, and dead entries
    weigh below e^-200 wherever they move); row ||Δx|| + sqrt(n)·E.
    local: u·a_i (x - m) + δS (the sum, as above) + the fpmath log bound on |log Ŝ| <= log n + δS,
    then the subtraction's u.

layer_norm (y = d·(var + eps)^-1/2, d = x - mean, over the last ``ndim`` axes of N elements)
    propagated: d moves by e_i + min(ē, ||Δx||/sqrt N) and ||Δd|| <= ||Δx|| (a projection); the
    variance by at most (2ρ||Δd|| + ||Δd||²)/N with ρ = ||d||; so |Δy_i| <= |Δd_i|(r + Δr) +
    |d_i|Δr with Δr from rsqrt's endpoints. Row: y = sqrt(N)·d/sqrt(||d||² + N·eps) has Jacobian
    norm sqrt(N)/sqrt(||d||² + N·eps), so ||Δy|| <= ||Δd||·sqrt(N)/sqrt((ρ - ||Δd||)₊² + N·eps).
    local: the two-pass fp32 evaluation step by step (mean, d, d², variance, + eps, fpmath
    rsqrt, d·r) with magnitudes inflated by the propagated bounds. However large the input error,
    |Δy_i| <= sqrt(N - 1) + |y_i| and ||Δy|| <= 2·sqrt(N) (normalised vectors on both sides), and
    the fp32 result itself is at most sqrt(N)(1 + c_rsqrt)(1 + u)/sqrt(1 - γ_(N+1)) in magnitude.
    Weight and bias follow with the ``mul``/``add`` primitives.
"""

from __future__ import annotations

import math

import numpy as np

from d1c.accuracy.bound_arith import (
    ETA32,
    INF,
    TAILS,
    U32,
    Bounded,
    add,
    box_row,
    clean,
    finish,
    mul,
    rows,
)
from d1c.isa.fpmath import FUNCTIONS

C_EXP = (FUNCTIONS["exp"].ulp_bound + 1) * 2.0**-23
C_LOG = (FUNCTIONS["log"].ulp_bound + 1) * 2.0**-23
C_RSQRT = (FUNCTIONS["rsqrt"].ulp_bound + 1) * 2.0**-23
T_EXP = TAILS["exp"]
# An entry at least 200 below the row's max whatever its error (an additive mask of
# torch.finfo.min, saturated: docs/lowering.md §1) has weight below e^-200 (DEAD_WEIGHT), and fp32
# exp below -104 is exactly 0 (tests/accuracy/test_bounds.py measures it down to -FLT_MAX).
DEAD = -200.0
DEAD_WEIGHT = math.exp(DEAD)


def lam(t: float | np.ndarray) -> np.ndarray:
    t = np.asarray(t, np.float64)
    return np.where(t < 1, t / np.where(t < 1, 1 - t, 1), INF)


def gamma(k: int) -> float:
    ku = max(k, 0) * U32
    return ku / (1.0 - ku) if ku < 1.0 else INF


def _spread(a: Bounded, dim: int) -> tuple[np.ndarray, ...]:
    """(masked, dead, E, a_i, max a) along ``dim``: the exact -inf entries; the *dead* entries,
    whose weight e^(x_i - max) is below e^DEAD wherever the errors put them (x_i + e_i is DEAD
    below every value the max can take; fp32 exp is then exactly 0); the largest error E of the
    other (*live*) entries, which bounds how far the max moves (a live entry attains it); bounds
    a_i >= |x̂_i - m̂|; and their largest over the live entries."""
    x, e = a.ref, a.err
    masked = np.isneginf(x) & (e == 0)
    with np.errstate(invalid="ignore"):
        floor = np.max(x - e, axis=dim, keepdims=True)
        dead = masked | (x + e - floor < DEAD)
        big = np.max(np.where(dead, 0.0, e), axis=dim, keepdims=True)
        m = np.max(x, axis=dim, keepdims=True)
        spread = clean(np.where(masked, 0.0, np.abs(x - m) + e + big))
    return masked, dead, big, spread, np.max(np.where(dead, 0.0, spread), axis=dim, keepdims=True)


def softmax(a: Bounded, dim: int) -> Bounded:
    """Bounds of softmax along ``dim``."""
    with np.errstate(invalid="ignore"):
        z = a.ref - np.max(a.ref, axis=dim, keepdims=True)
        y = np.exp(z) / np.sum(np.exp(z), axis=dim, keepdims=True)
    masked, dead, big, spread, zmax = _spread(a, dim)
    n = a.ref.shape[dim]
    last = dim == a.ref.ndim - 1
    with np.errstate(invalid="ignore", over="ignore"):
        prop = np.minimum(y * np.expm1(a.err + big), 1.0)
        if last:
            prop = np.minimum(prop, 0.5 * rows(a)[..., None])
        ell = U32 * (spread + zmax) + 2 * lam(C_EXP) + lam(gamma(n - 1)) + lam(U32)
        ell = ell + lam(n * DEAD_WEIGHT)  # the dead entries' share of the exact sum
        local = (y + prop) * np.expm1(ell) + 2 * (n + 1) * T_EXP + ETA32
    prop = np.where(dead, DEAD_WEIGHT, prop)  # computed exactly 0, exactly below e^DEAD
    prop, local = (clean(np.where(masked, 0.0, v)) for v in (prop, np.where(dead, 0.0, local)))
    row = 0.5 * rows(a) + box_row(local) if last else box_row(prop + local)
    return finish(y, prop + local, row, a.err == 0)


def log_softmax(a: Bounded, dim: int) -> Bounded:
    """Bounds of log_softmax along ``dim``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = a.ref - np.max(a.ref, axis=dim, keepdims=True)
        y = z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))
    _, _, big, spread, zmax = _spread(a, dim)
    n = a.ref.shape[dim]
    with np.errstate(invalid="ignore", over="ignore"):
        prop = a.err + big + n * DEAD_WEIGHT
        d_sum = U32 * zmax + lam(C_EXP) + lam(gamma(n - 1)) + 2 * n * T_EXP
        k = U32 * spread + d_sum + C_LOG * (math.log(max(n, 1)) + d_sum) + 2.0**-145
        local = clean(k + U32 * (np.abs(y) + prop + k))
    if dim == a.ref.ndim - 1:
        row = rows(a) + math.sqrt(n) * big[..., 0] + box_row(local)
    else:
        row = box_row(prop + local)
    return finish(y, prop + local, row, a.err == 0)


def _group_norm(a: Bounded, axes: tuple[int, ...]) -> np.ndarray:
    """Bound on ||Δx|| over each normalised group (keepdims over ``axes``)."""
    prefix = axes[:-1]
    g = np.sqrt(np.sum(rows(a) ** 2, axis=prefix, keepdims=True)) if prefix else rows(a)
    return g[..., None]


def _ln_local(a: Bounded, axes: tuple[int, ...], st: dict) -> np.ndarray:
    """The two-pass fp32 layer norm at x̂ vs the exact one at x̂ (module docstring)."""
    n, d_mag, nd = st["n"], st["d_mag"], st["nd"]
    r_sum = gamma(n - 1) * np.sum(np.abs(a.ref) + a.err, axis=axes, keepdims=True)
    mu = np.abs(np.mean(a.ref, axis=axes, keepdims=True)) + st["ebar"]
    e_mu = r_sum / n + U32 * (mu + r_sum / n) + ETA32
    e_d = e_mu + U32 * (d_mag + e_mu)
    e_p = 2 * d_mag * e_d + e_d**2 + U32 * (d_mag + e_d) ** 2 + ETA32
    big_p = np.sum((d_mag + e_d) ** 2, axis=axes, keepdims=True) * (1 + U32)
    v_hi = np.minimum(np.sum(d_mag**2, axis=axes, keepdims=True), (st["rho"] + nd) ** 2) / n
    s_err = (np.sum(e_p, axis=axes, keepdims=True) + gamma(n - 1) * big_p) / n
    e_v = s_err + U32 * (v_hi + s_err) + ETA32
    e_t = e_v + U32 * (v_hi + st["eps"] + e_v)
    # Both the computed fl(v̂ + eps) (v̂ >= 0) and var(x̂) + eps are at least eps.
    t_lo = np.maximum(np.maximum(st["rho"] - nd, 0.0) ** 2 / n + st["eps"] - e_t, st["eps"])
    ok = t_lo >= 2.0**-126
    t_lo = np.where(ok, t_lo, 1.0)
    r_hi = np.where(ok, t_lo**-0.5, INF)
    e_r = np.where(ok, 0.5 * t_lo**-1.5 * e_t + C_RSQRT * r_hi + 2.0**-146, INF)
    return e_d * (r_hi + e_r) + d_mag * e_r + U32 * (d_mag + e_d) * (r_hi + e_r) + ETA32


def layer_norm(a: Bounded, ndim: int, eps: float) -> Bounded:
    """Bounds of the normalised part (before weight and bias)."""
    x = a.ref
    axes = tuple(range(x.ndim - ndim, x.ndim))
    n = math.prod(x.shape[i] for i in axes)
    d = x - np.mean(x, axis=axes, keepdims=True)
    rho = np.sqrt(np.sum(d * d, axis=axes, keepdims=True))
    t = rho**2 / n + eps
    y = d / np.sqrt(t)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        nd = _group_norm(a, axes)
        ebar = np.minimum(np.mean(a.err, axis=axes, keepdims=True), nd / math.sqrt(n))
        e_d = np.minimum(a.err + ebar, nd)
        dv = (2 * rho * nd + nd**2) / n
        dr = np.where(t - dv > 0, np.abs((t - dv) ** -0.5 - t**-0.5), INF)
        prop = clean(e_d * (t**-0.5 + dr) + np.abs(d) * dr)
        row_prop = nd * math.sqrt(n) / np.sqrt(np.maximum(rho - nd, 0.0) ** 2 + n * eps)
        # Whatever the input error: |y_i| <= sqrt(N - 1) and ||y|| <= sqrt(N) at x̂ and at x.
        row_prop = np.minimum(clean(row_prop), 2 * math.sqrt(n))
        prop = np.minimum(np.minimum(prop, row_prop), math.sqrt(max(n - 1, 0)) + np.abs(y))
        st = {"n": n, "d_mag": np.abs(d) + e_d, "nd": nd, "rho": rho, "eps": eps, "ebar": ebar}
        local = clean(_ln_local(a, axes, st))
        # |fp32 y| <= sqrt(N)(1 + c)(1 + u)/sqrt(1 - γ_(N+1)): its sum of squares is computed low.
        cap = math.sqrt(n) * (1 + C_RSQRT) * (1 + U32) / math.sqrt(max(1 - gamma(n + 1), 1e-300))
        total = np.minimum(prop + local, cap + np.abs(y))
        row = np.minimum(row_prop[..., 0] + box_row(local), cap * math.sqrt(n) + box_row(y))
        # The caps hold for a finite result only: with eps = 0 a row that the input error can
        # make constant gives 0/0 = NaN in fp32, so it is unbounded.
        vanish = (np.float32(eps) == 0) & (rho - nd <= 0)
        total = np.where(vanish, INF, total)
        row = np.where(vanish[..., 0], INF, row)
    return finish(y, total, row, a.err == 0)


def layer_norm_affine(a: Bounded, affine: list[Bounded], ndim: int, eps: float) -> Bounded:
    """layer_norm with its optional weight (times) and bias (plus), in the interpreter's order."""
    out = layer_norm(a, ndim, eps)
    for i, p in enumerate(affine):
        out = mul(out, p) if i == 0 else add(out, p)
    return out
