"""Evaluators of reductions and the normalisations built on them: ``reduce_*``, ``softmax``,
``log_softmax``, ``layer_norm`` and ``batch_norm``. Every sum is :func:`seq_sum` (sequential,
row-major over the reduced dims); the formulas are in the :mod:`d1c.interp` docstring."""

from __future__ import annotations

import math

import numpy as np

from d1c.interp.arith import fpmath, max2, min2, seq_fold, seq_sum
from d1c.interp.core import Call, register_eval

F32 = np.float32


def _keep(c: Call, r: np.ndarray) -> np.ndarray:
    return r.reshape(c.type.shape)


@register_eval("reduce_sum")
def _reduce_sum(c: Call) -> np.ndarray:
    return _keep(c, seq_sum(c.args[0], c.attrs["dims"]))


@register_eval("reduce_mean")
def _reduce_mean(c: Call) -> np.ndarray:
    """Sum / count; integer types use floor division."""
    x, dims = c.args[0], c.attrs["dims"]
    count = math.prod(x.shape[d] for d in dims)
    s = seq_sum(x, dims)
    if x.dtype.kind == "f":
        return _keep(c, s / F32(count))
    if count == 0:
        raise c.fail("mean over an empty dimension")
    return _keep(c, (s // count).astype(x.dtype))


@register_eval("reduce_max")
def _reduce_max(c: Call) -> np.ndarray:
    return _keep(c, seq_fold(c.args[0], c.attrs["dims"], max2))


@register_eval("reduce_min")
def _reduce_min(c: Call) -> np.ndarray:
    return _keep(c, seq_fold(c.args[0], c.attrs["dims"], min2))


def _shifted(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``x - max(x)`` along ``dim`` and the sequential sum of ``exp`` of it (kept dims)."""
    m = np.expand_dims(seq_fold(x, [dim], max2), dim)
    z = x - m
    s = np.expand_dims(seq_sum(fpmath("exp")(z), [dim]), dim)
    return z, s


@register_eval("softmax")
def _softmax(c: Call) -> np.ndarray:
    """``e = exp(x - max); e / sum(e)``."""
    x, dim = c.args[0], c.attrs["dim"]
    z, _ = _shifted(x, dim)
    e = fpmath("exp")(z)
    return e / np.expand_dims(seq_sum(e, [dim]), dim)


@register_eval("log_softmax")
def _log_softmax(c: Call) -> np.ndarray:
    """``(x - max) - log(sum(exp(x - max)))``."""
    z, s = _shifted(c.args[0], c.attrs["dim"])
    return z - fpmath("log")(s)


@register_eval("layer_norm")
def _layer_norm(c: Call) -> np.ndarray:
    """Two-pass: ``mean = sum(x)/N; d = x - mean; var = sum(d*d)/N;
    y = d * rsqrt(var + eps)``, then ``y * weight``, then ``+ bias``."""
    x, *affine = c.args
    dims = list(range(x.ndim - c.attrs["ndim"], x.ndim))
    n = F32(math.prod(x.shape[d] for d in dims))
    mean = seq_sum(x, dims) / n
    d = x - mean.reshape(mean.shape + (1,) * len(dims))
    var = seq_sum(d * d, dims) / n
    r = fpmath("rsqrt")(var + F32(c.attrs["eps"]))
    y = d * r.reshape(r.shape + (1,) * len(dims))
    for i, p in enumerate(affine):
        y = y * p if i == 0 else y + p
    return y


@register_eval("batch_norm")
def _batch_norm(c: Call) -> np.ndarray:
    """Inference form, in this order: ``((x - mean) / sqrt(var + eps)) * weight + bias``.
    Operands: x, mean, var, weight, bias (statistics along dim 1)."""
    x, mean, var, weight, bias = c.args
    shape = [1] * x.ndim
    shape[1] = x.shape[1]

    def chan(p: np.ndarray) -> np.ndarray:
        return p.reshape(shape)

    std = np.sqrt(var + F32(c.attrs["eps"]))
    return (x - chan(mean)) / chan(std) * chan(weight) + chan(bias)
