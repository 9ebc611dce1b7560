"""Evaluators of ``matmul``, ``conv2d`` and the pools.

``conv2d`` is im2col plus :func:`matmul_seq`: the contraction index runs over (input channel
of the group, kernel row, kernel column) in row-major order, the weight's own layout; the bias is
added after the accumulation. Pool windows are visited row-major (kernel row, then column).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from d1c.interp.arith import matmul_seq, max2, seq_fold, seq_sum
from d1c.interp.core import Call, register_eval

F32 = np.float32


@register_eval("matmul")
def _matmul(c: Call) -> np.ndarray:
    return matmul_seq(*c.args)


def windows(
    x: np.ndarray,
    kernel: tuple[int, int],
    out: tuple[int, int],
    attrs: dict,
    fill: float | int,
) -> np.ndarray:
    """The ``[N, C, OH, OW, KH, KW]`` input windows of an NCHW ``x`` (a strided view), padded
    with ``fill`` (on the bottom/right as far as ceil-mode windows reach)."""
    (kh, kw), (oh, ow) = kernel, out
    (sh, sw), (ph, pw) = attrs["stride"], attrs["padding"]
    dh, dw = attrs.get("dilation", (1, 1))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    need_h, need_w = (oh - 1) * sh + span_h, (ow - 1) * sw + span_w
    h, w = x.shape[2], x.shape[3]
    bottom, right = max(ph, need_h - h - ph), max(pw, need_w - w - pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, bottom), (pw, right)), constant_values=fill)
    v = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


@register_eval("conv2d")
def _conv2d(c: Call) -> np.ndarray:
    x, wt = c.args[0], c.args[1]
    n, o, oh, ow = c.type.shape
    g = c.attrs["groups"]
    cg, kh, kw = wt.shape[1], wt.shape[2], wt.shape[3]
    win = windows(x, (kh, kw), (oh, ow), c.attrs, 0)  # [N, C, OH, OW, KH, KW]
    cols = win.reshape(n, g, cg, oh, ow, kh, kw).transpose(0, 1, 3, 4, 2, 5, 6)
    cols = cols.reshape(n, g, oh * ow, cg * kh * kw)
    wmat = wt.reshape(g, o // g, cg * kh * kw).transpose(0, 2, 1)  # [G, K, O/G]
    y = matmul_seq(cols, wmat)  # [N, G, OH*OW, O/G]
    y = y.transpose(0, 1, 3, 2).reshape(n, o, oh, ow)
    if len(c.args) == 3:
        y = y + c.args[2].reshape(1, o, 1, 1)
    return y


def _min_of(dtype: np.dtype) -> float | int:
    return -np.inf if dtype.kind == "f" else (False if dtype.kind == "b" else np.iinfo(dtype).min)


@register_eval("max_pool2d")
def _max_pool2d(c: Call) -> np.ndarray:
    """Max over each window (padding is -inf), NaN-propagating, first maximum wins ties."""
    x = c.args[0]
    win = windows(x, c.attrs["kernel"], c.type.shape[2:], c.attrs, _min_of(x.dtype))
    return seq_fold(win, [4, 5], max2)


def _pool_divisors(c: Call) -> np.ndarray:
    """torch's avg_pool2d divisor for each output position, as an [OH, OW] float32 array."""
    if c.attrs["divisor"]:
        return np.full(c.type.shape[2:], F32(c.attrs["divisor"]))
    sizes = []
    for axis in (0, 1):
        size, k = c.args[0].shape[2 + axis], c.attrs["kernel"][axis]
        s, p = c.attrs["stride"][axis], c.attrs["padding"][axis]
        start = np.arange(c.type.shape[2 + axis]) * s - p
        end = np.minimum(start + k, size + p)
        if c.attrs["count_include_pad"]:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, size) - np.maximum(start, 0))
    return np.outer(sizes[0], sizes[1]).astype(F32)


@register_eval("avg_pool2d")
def _avg_pool2d(c: Call) -> np.ndarray:
    """Sequential window sum (padding contributes +0) divided by torch's divisor."""
    win = windows(c.args[0], c.attrs["kernel"], c.type.shape[2:], c.attrs, 0)
    return seq_sum(win, [4, 5]) / _pool_divisors(c)


@register_eval("adaptive_avg_pool2d")
def _adaptive_avg_pool2d(c: Call) -> np.ndarray:
    """Window ``i`` spans ``floor(i*H/OH) .. ceil((i+1)*H/OH)`` (torch's rule); each window is a
    sequential row-major sum divided by its element count."""
    x = c.args[0]
    (h, w), (oh, ow) = x.shape[2:], c.type.shape[2:]
    out = np.empty(c.type.shape, dtype=x.dtype)
    for i in range(oh):
        h0, h1 = i * h // oh, -(-(i + 1) * h // oh)
        for j in range(ow):
            w0, w1 = j * w // ow, -(-(j + 1) * w // ow)
            cell = x[:, :, h0:h1, w0:w1]
            out[:, :, i, j] = seq_sum(cell, [2, 3]) / F32((h1 - h0) * (w1 - w0))
    return out
