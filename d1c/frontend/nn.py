"""Lowerings of neural-network ops: matrix products, convolution, batch/layer norm, softmax,
pooling and embedding.

Multi-output ATen ops (``_native_batch_norm_legit_no_training``) return their first output; the
statistics, which only training uses, are :class:`Unavailable` and reported if a model reads
them. ``native_layer_norm`` also gives its mean and inverse standard deviation (its backward in
a training step reads them). ``max_pool2d_with_indices`` computes its indices when the model
reads them (d1c/frontend/resample.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from d1c.frontend import resample
from d1c.frontend.common import (
    Ctx,
    Unavailable,
    Unsupported,
    aten,
    norm_dim,
    pair,
    register_lowering,
)
from d1c.frontend.elementwise import binary
from d1c.ir import Value


def _need_float(x: Value, what: str) -> None:
    if not x.type.elem.is_float:
        raise Unsupported(f"{what} of a {x.type.elem} tensor is not supported")


def matmul(ctx: Ctx, a: Value, b: Value) -> Value:
    """torch.matmul semantics: 1-D operands get a unit dim that is dropped again afterwards."""
    if a.type.rank == 0 or b.type.rank == 0:
        raise Unsupported("matmul of a rank-0 tensor is not supported")
    a2 = ctx.reshape(a, (1, *a.type.shape)) if a.type.rank == 1 else a
    b2 = ctx.reshape(b, (*b.type.shape, 1)) if b.type.rank == 1 else b
    y = ctx.emit("matmul", [a2, b2])
    shape = list(y.type.shape)
    if b.type.rank == 1:
        shape.pop(-1)
    if a.type.rank == 1:
        shape.pop(-2 if b.type.rank > 1 else -1)
    return y if len(shape) == y.type.rank else ctx.reshape(y, shape)


@register_lowering(aten.mm.default, aten.bmm.default, aten.matmul.default)
def _mm(ctx: Ctx, a: Value, b: Value) -> Value:
    return matmul(ctx, a, b)


def _scaled(ctx: Ctx, x: Value, factor: float) -> Value:
    return x if factor == 1 else binary(ctx, "mul", x, factor)


@register_lowering(aten.addmm.default, aten.baddbmm.default)
def _addmm(ctx: Ctx, bias: Value, a: Value, b: Value, *, beta=1, alpha=1) -> Value:
    """beta * bias + alpha * (a @ b); beta = 0 ignores bias (even NaN), as in torch."""
    prod = _scaled(ctx, matmul(ctx, a, b), alpha)
    if beta == 0:
        return prod
    return binary(ctx, "add", prod, _scaled(ctx, bias, beta))


def _conv_params(rank: int, stride, padding, dilation) -> dict:
    """2-D window parameters; a 1-D convolution is a 2-D one over a height of 1."""
    if rank == 3:
        return {
            "stride": (1, stride[0]),
            "padding": (0, padding[0]),
            "dilation": (1, dilation[0]),
        }
    return {
        "stride": pair(stride, "stride"),
        "padding": pair(padding, "padding"),
        "dilation": pair(dilation, "dilation"),
    }


@register_lowering(aten.convolution.default)
def _convolution(
    ctx: Ctx, x, w, bias, stride, padding, dilation, transposed, output_padding, groups
) -> Value:
    """NCHW (or NCL) convolution; transposed convolutions are not supported."""
    if transposed:
        raise Unsupported("transposed convolution is not supported")
    if x.type.rank not in (3, 4):
        raise Unsupported(f"convolution of a rank-{x.type.rank} input (only 1-D and 2-D)")
    attrs = {**_conv_params(x.type.rank, stride, padding, dilation), "groups": groups}
    if x.type.rank == 4:
        return ctx.emit("conv2d", [x, w] + ([bias] if bias is not None else []), attrs)
    x4 = ctx.reshape(x, (x.type.shape[0], x.type.shape[1], 1, x.type.shape[2]))
    w4 = ctx.reshape(w, (w.type.shape[0], w.type.shape[1], 1, w.type.shape[2]))
    y = ctx.emit("conv2d", [x4, w4] + ([bias] if bias is not None else []), attrs)
    n, c, _, length = y.type.shape
    return ctx.reshape(y, (n, c, length))


def _param_or(ctx: Ctx, v: Value | None, fill: float, like: Value, size: int) -> Value:
    return v if v is not None else ctx.full(fill, like.type.elem, (size,))


@register_lowering(aten._native_batch_norm_legit_no_training.default)
def _batch_norm(ctx: Ctx, x, weight, bias, mean, var, momentum: float, eps: float) -> list:
    """Inference batch norm; IR operand order is (x, mean, var, weight, bias)."""
    _need_float(x, "batch norm")
    c = x.type.shape[1]
    weight = _param_or(ctx, weight, 1.0, x, c)
    bias = _param_or(ctx, bias, 0.0, x, c)
    y = ctx.emit("batch_norm", [x, mean, var, weight, bias], {"eps": eps})
    return [y, Unavailable("saved mean"), Unavailable("saved inverse std")]


@register_lowering(aten.native_layer_norm.default)
def _layer_norm(ctx: Ctx, x, normalized_shape: Sequence[int], weight, bias, eps: float) -> list:
    """Layer norm over the trailing ``normalized_shape``; a bias alone gets a weight of ones."""
    _need_float(x, "layer norm")
    shape = tuple(normalized_shape)
    if weight is None and bias is not None:
        weight = ctx.full(1.0, x.type.elem, shape)
    operands = [x] + [v for v in (weight, bias) if v is not None]
    y = ctx.emit("layer_norm", operands, {"ndim": len(shape), "eps": eps})
    if not _reads_outputs(ctx, (1, 2)):
        return [y, Unavailable("mean"), Unavailable("inverse std")]
    return [y, *_norm_stats(ctx, x, len(shape), eps)]


def _reads_outputs(ctx: Ctx, which: Sequence[int]) -> bool:
    """Whether the graph reads any of outputs ``which`` of the node being lowered."""
    return any(u.args[1] in which for u in ctx.node.users if len(u.args) > 1)


def _norm_stats(ctx: Ctx, x: Value, ndim: int, eps: float) -> list[Value]:
    """The mean and 1/sqrt(biased variance + eps) over the last ``ndim`` dims, kept as size-1
    dims (what training's backward reads): two passes, as ``layer_norm`` computes them."""
    attrs = {"dims": tuple(range(x.type.rank - ndim, x.type.rank)), "keepdim": True}
    mean = ctx.emit("reduce_mean", [x], attrs)
    centred = ctx.emit("sub", [x, mean])
    var = ctx.emit("reduce_mean", [ctx.emit("mul", [centred, centred])], attrs)
    return [mean, ctx.emit("rsqrt", [ctx.emit("add", [var, ctx.full(eps, x.type.elem)])])]


@register_lowering(aten.native_group_norm.default)
def _group_norm(ctx: Ctx, x, weight, bias, n: int, c: int, hxw: int, groups: int, eps) -> list:
    """Group norm = layer norm of each [C/groups * HxW] group, then a per-channel affine map."""
    _need_float(x, "group norm")
    grouped = ctx.reshape(x, (n, groups, (c // groups) * hxw))
    y = ctx.reshape(ctx.emit("layer_norm", [grouped], {"ndim": 1, "eps": eps}), x.type.shape)
    per_channel = (c,) + (1,) * (x.type.rank - 2)
    if weight is not None:
        y = ctx.emit("mul", [y, ctx.reshape(weight, per_channel)])
    if bias is not None:
        y = ctx.emit("add", [y, ctx.reshape(bias, per_channel)])
    return [y, Unavailable("mean"), Unavailable("inverse std")]


@register_lowering(aten._softmax.default)
def _softmax(ctx: Ctx, x: Value, dim: int, half_to_float: bool = False) -> Value:
    _need_float(x, "softmax")
    return ctx.emit("softmax", [x], {"dim": norm_dim(dim, x.type.rank)})


@register_lowering(aten._log_softmax.default)
def _log_softmax(ctx: Ctx, x: Value, dim: int, half_to_float: bool = False) -> Value:
    _need_float(x, "log_softmax")
    return ctx.emit("log_softmax", [x], {"dim": norm_dim(dim, x.type.rank)})


def _pool(ctx: Ctx, op: str, x: Value, attrs: dict) -> Value:
    """Pool an NCHW input; an unbatched CHW input is given a batch of 1 and back."""
    if x.type.rank not in (3, 4):
        raise Unsupported(f"2-D pooling of a rank-{x.type.rank} input")
    x4 = ctx.reshape(x, (1, *x.type.shape)) if x.type.rank == 3 else x
    y = ctx.emit(op, [x4], attrs)
    return ctx.reshape(y, y.type.shape[1:]) if x.type.rank == 3 else y


@register_lowering(aten.max_pool2d_with_indices.default)
def _max_pool2d(ctx: Ctx, x, kernel, stride, padding, dilation, ceil_mode) -> list:
    attrs = {
        "kernel": pair(kernel, "kernel_size"),
        "stride": pair(stride or kernel, "stride"),
        "padding": pair(padding, "padding"),
        "dilation": pair(dilation, "dilation"),
        "ceil_mode": bool(ceil_mode),
    }
    y = _pool(ctx, "max_pool2d", x, attrs)
    if not resample.uses_output(ctx, 1):
        return [y, Unavailable("indices")]
    return [y, resample.max_pool_indices(ctx, x, y.type.shape, attrs)]


@register_lowering(aten.avg_pool2d.default)
def _avg_pool2d(
    ctx: Ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
) -> Value:
    _need_float(x, "average pooling")
    attrs = {
        "kernel": pair(kernel, "kernel_size"),
        "stride": pair(stride or kernel, "stride"),
        "padding": pair(padding, "padding"),
        "ceil_mode": bool(ceil_mode),
        "count_include_pad": bool(count_include_pad),
        "divisor": divisor_override or 0,
    }
    return _pool(ctx, "avg_pool2d", x, attrs)


@register_lowering(aten._adaptive_avg_pool2d.default, aten.adaptive_avg_pool2d.default)
def _adaptive_avg_pool2d(ctx: Ctx, x: Value, size: Sequence[int]) -> Value:
    _need_float(x, "adaptive average pooling")
    return _pool(ctx, "adaptive_avg_pool2d", x, {"size": pair(size, "output_size")})


@register_lowering(aten.embedding.default)
def _embedding(ctx: Ctx, weight: Value, indices: Value, *_: object) -> Value:
    """Row lookup; padding_idx and scale_grad_by_freq only affect gradients."""
    return ctx.emit("embedding", [weight, indices])
