"""``fold-batchnorm``: fold an inference batch norm into the convolution that feeds it.

    batch_norm(conv2d(x, w, b?), mean, var, gamma, beta)  ->  conv2d(x, w', b')

    s  = gamma / sqrt(var + eps)          per output channel
    w' = w * s[:, None, None, None]
    b' = (b - mean) * s + beta            (b = 0 when the conv has no bias)

It fires only when the conv's result has no reader but the batch norm (otherwise the unfolded
conv would still be needed), when the weight, the bias and all four statistics are ``const`` ops
with data present, and for fp32 tensors. A batch norm that follows anything else stays as it is.

Numerics: w' and b' are computed in float64 from the fp32 constants and rounded to fp32 once,
so each folded constant is the correctly rounded value of its formula. The folded program is a
different fp32 computation from conv-then-normalise (one rounding of w' instead of roundings
of the conv output, the subtraction, the division and the affine step), so results agree within
fp32 rounding error, not bit for bit; this pass belongs to the graph level, before the
bit-exact verification ladder starts.

The new constants are named ``<weight>.bnfold`` and ``<weight>.bnfold_bias`` (made unique); the
old ones are dropped when nothing else reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from d1c.ir import FP32, Module, Op, TensorType, Value
from d1c.passes.pass_manager import Context, register_pass
from d1c.passes.rewrite import Rewriter, apply_rules, drop_unused_consts


@register_pass
@dataclass(frozen=True)
class FoldBatchnorm:
    name: ClassVar[str] = "fold-batchnorm"

    def apply(self, module: Module, ctx: Context) -> Module:
        apply_rules(module, [("batch_norm", fold_into_conv)])
        drop_unused_consts(module)
        return module


def folded_params(
    w: np.ndarray,
    b: np.ndarray | None,
    mean: np.ndarray,
    var: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(w', b') in float32, each computed in float64 and rounded once."""
    f64 = [np.asarray(a, dtype=np.float64) for a in (mean, var, gamma, beta)]
    mean64, var64, gamma64, beta64 = f64
    s = gamma64 / np.sqrt(var64 + eps)
    b64 = np.zeros_like(mean64) if b is None else b.astype(np.float64)
    w_new = w.astype(np.float64) * s[:, None, None, None]
    b_new = (b64 - mean64) * s + beta64
    return w_new.astype(np.float32), b_new.astype(np.float32)


def _foldable_conv(bn: Op, rw: Rewriter) -> Op | None:
    x = bn.operands[0]
    conv = x.owner
    if conv is None or conv.name != "conv2d" or rw.users_of(x) != [bn]:
        return None
    if bn.result.type.elem != FP32:
        return None
    return conv


def fold_into_conv(op: Op, rw: Rewriter) -> Value | None:
    """The rewrite rule on ``batch_norm``; see the module docstring."""
    conv = _foldable_conv(op, rw)
    if conv is None:
        return None
    stats = [rw.const_data(v) for v in op.operands[1:]]
    params = [rw.const_data(v) for v in conv.operands[1:]]
    if any(a is None for a in stats + params):
        return None
    w_new, b_new = folded_params(params[0], (params[1:] or [None])[0], *stats, op.attrs["eps"])
    w_op = conv.operands[1].owner
    wname = w_op.attrs["name"].name
    w_val = rw.add_const(f"{wname}.bnfold", w_new, conv.operands[1].type, loc=w_op.loc)
    b_type = TensorType((w_new.shape[0],), FP32)
    b_val = rw.add_const(f"{wname}.bnfold_bias", b_new, b_type, loc=w_op.loc)
    x = conv.operands[0]
    return rw.create("conv2d", [x, w_val, b_val], dict(conv.attrs), loc=conv.loc)
