"""Linearisation rules of the network ops (see :mod:`d1c.accuracy.adjoint_rules`): softmax,
log_softmax and layer_norm by their Jacobian at the reference (the driver measures the
second-order remainder), batch_norm, conv2d and the pools by their exact linear maps (max pool:
the trace's choice in each window)."""

from __future__ import annotations

import math

import numpy as np

from d1c.accuracy import ref64
from d1c.accuracy.adjoint_rules import Arrays, Lin, _rule
from d1c.ir import Op

F64 = np.float64


def _softmax_of(x: np.ndarray, dim: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        z = np.exp(x - np.max(x, axis=dim, keepdims=True))
        return z / np.sum(z, axis=dim, keepdims=True)


@_rule("softmax")
def _softmax(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin | None:
    dim = op.attrs["dim"]
    s = _softmax_of(y[0], dim)
    if not np.all(np.isfinite(s)):
        return None

    def jvp(ds: Arrays) -> np.ndarray:
        return s * (ds[0] - np.sum(s * ds[0], axis=dim, keepdims=True))

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        return [s * (g - np.sum(g * s, axis=dim + 1, keepdims=True))]

    return Lin(jvp, vjp)


@_rule("log_softmax")
def _log_softmax(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin | None:
    dim = op.attrs["dim"]
    p = _softmax_of(y[0], dim)
    if not np.all(np.isfinite(p)):
        return None

    def jvp(ds: Arrays) -> np.ndarray:
        return ds[0] - np.sum(p * ds[0], axis=dim, keepdims=True)

    return Lin(jvp, lambda g: [g - p * np.sum(g, axis=dim + 1, keepdims=True)])


@_rule("layer_norm")
def _layer_norm(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin | None:
    """y = x̂ w + b, x̂ = (x - μ)/σ over the last ``ndim`` axes; weight and bias must be data."""
    if not all(fixed[1:]):
        return None
    x = y[0]
    axes = tuple(range(x.ndim - op.attrs["ndim"], x.ndim))
    d = x - np.mean(x, axis=axes, keepdims=True)
    sigma = np.sqrt(np.mean(d * d, axis=axes, keepdims=True) + ref64.f32(op.attrs["eps"]))
    xh = d / sigma
    w = y[1] if len(y) > 1 else 1.0
    g_axes = tuple(a + 1 for a in axes)

    def jvp(ds: Arrays) -> np.ndarray:
        dx = ds[0]
        m, mx = np.mean(dx, axis=axes, keepdims=True), np.mean(dx * xh, axis=axes, keepdims=True)
        return w * (dx - m - xh * mx) / sigma

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        gw = g * w
        m, mx = (np.mean(v, axis=g_axes, keepdims=True) for v in (gw, gw * xh))
        return [(gw - m - xh * mx) / sigma, *([None] * (len(y) - 1))]

    return Lin(jvp, vjp) if np.all(np.isfinite(xh)) else None


@_rule("batch_norm")
def _batch_norm(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin | None:
    if not all(fixed[1:]):
        return None
    _, _, var, w, _ = y
    shape = [1] * y[0].ndim
    shape[1] = -1
    scale = (w / np.sqrt(var + ref64.f32(op.attrs["eps"]))).reshape(shape)
    return Lin(lambda ds: ds[0] * scale, lambda g: [g * scale, None, None, None, None])


def scatter_windows(gw: np.ndarray, op: Op, x_shape: tuple[int, ...]) -> np.ndarray:
    """The transpose of :func:`d1c.accuracy.ref64.windows` for a batch: ``gw [C, N, Ch, OH,
    OW, KH, KW]`` added back onto ``[C, N, Ch, H, W]`` (padding dropped)."""
    at = op.attrs
    c, n, ch, oh, ow, kh, kw = gw.shape
    (sh, sw), (ph, pw) = at["stride"], at["padding"]
    dh, dw = at.get("dilation", (1, 1))
    h, w = x_shape[2:]
    big_h = max(h + 2 * ph, (oh - 1) * sh + dh * (kh - 1) + 1)
    big_w = max(w + 2 * pw, (ow - 1) * sw + dw * (kw - 1) + 1)
    out = np.zeros((c, n, ch, big_h, big_w))
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            out[:, :, :, rows, cols] += gw[..., i, j]
    return out[:, :, :, ph : ph + h, pw : pw + w]


@_rule("conv2d")
def _conv2d(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin | None:
    if not all(fixed[1:]):
        return None
    x_shape, w = op.operands[0].type.shape, y[1]
    n, o, oh, ow = op.result.type.shape
    g_, (cg, kh, kw) = op.attrs["groups"], w.shape[1:]
    wmat = w.reshape(g_, o // g_, cg * kh * kw)  # [G, O/G, K]

    def jvp(ds: Arrays) -> np.ndarray:
        return ref64.OPS64["conv2d"]([ds[0], w], op)

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        c = g.shape[0]
        gy = g.reshape(c, n, g_, o // g_, oh * ow).transpose(0, 1, 2, 4, 3)
        cols = np.matmul(gy, wmat)  # [C, N, G, OH*OW, K]
        cols = cols.reshape(c, n, g_, oh, ow, cg, kh, kw).transpose(0, 1, 2, 5, 3, 4, 6, 7)
        gx = scatter_windows(cols.reshape(c, n, g_ * cg, oh, ow, kh, kw), op, x_shape)
        return [gx, *([None] * (len(y) - 1))]

    return Lin(jvp, vjp)


@_rule("max_pool2d")
def _max_pool(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    x = t[0]
    win = ref64.windows(x, op, op.attrs["kernel"], -np.inf)
    flat = win.reshape(*win.shape[:4], -1)
    one = np.zeros(flat.shape)
    np.put_along_axis(one, np.argmax(flat, axis=-1)[..., None], 1.0, axis=-1)  # first max
    one = one.reshape(win.shape)
    shape = op.operands[0].type.shape

    def jvp(ds: Arrays) -> np.ndarray:
        return np.sum(ref64.windows(ds[0], op, op.attrs["kernel"], 0.0) * one, axis=(4, 5))

    return Lin(jvp, lambda g: [scatter_windows(g[..., None, None] * one, op, shape)])


@_rule("avg_pool2d")
def _avg_pool(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    shape = op.operands[0].type.shape
    div = ref64.pool_divisors(op, shape[2:])
    kh, kw = op.attrs["kernel"]

    def jvp(ds: Arrays) -> np.ndarray:
        return ref64.OPS64["avg_pool2d"]([ds[0]], op)

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        gw = np.broadcast_to((g / div)[..., None, None], (*g.shape, kh, kw))
        return [scatter_windows(gw, op, shape)]

    return Lin(jvp, vjp)


@_rule("adaptive_avg_pool2d")
def _adaptive_avg_pool(op: Op, t: Arrays, y: Arrays, fixed: list[bool]) -> Lin:
    shape, (oh, ow) = op.operands[0].type.shape, op.result.type.shape[2:]
    rows = ref64.adaptive_cells(shape[2], oh)
    cols = ref64.adaptive_cells(shape[3], ow)

    def jvp(ds: Arrays) -> np.ndarray:
        return ref64.OPS64["adaptive_avg_pool2d"]([ds[0]], op)

    def vjp(g: np.ndarray) -> list[np.ndarray | None]:
        gx = np.zeros((g.shape[0], *shape))
        for i, (h0, h1) in enumerate(rows):
            for j, (w0, w1) in enumerate(cols):
                area = math.prod((h1 - h0, w1 - w0))
                gx[..., h0:h1, w0:w1] += g[..., i, j][..., None, None] / area
        return [gx]

    return Lin(jvp, vjp)
