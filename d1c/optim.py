"""Optimizers that compile into the training step (:func:`d1c.compile_training`).

An optimizer is data: its hyper-parameters, the state it keeps per parameter, and the graph-IR
ops of one update, which :mod:`d1c.training` appends to the joint forward+backward graph so the
update runs in the same program as the gradients (docs/training.md).

``SGD`` follows ``torch.optim.SGD`` (dampening 0, no Nesterov), in fp32 and unfused, one
rounding per op::

    d = g + weight_decay * p          (when weight_decay != 0)
    b = momentum * b + d; d = b       (when momentum != 0; b starts at 0, so the first step's
                                       b = 0 * momentum + d = d, torch's clone of d)
    p = p - lr * d

torch's CPU kernels compute ``g + wd * p`` and ``p - lr * d`` as one fused multiply-add; d1c
rounds the product and the sum separately (docs/design.md §4: no FMA), a difference of at most
one fp32 rounding per op that the tests' bound covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from d1c.errors import D1cError
from d1c.ir import Builder, TensorType, Value


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with optional momentum and weight decay (torch's formulas)."""

    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise D1cError(
                    f"SGD {name} must be a finite number >= 0, got {value!r}",
                    hint="d1c.optim.SGD(lr, momentum=0.0, weight_decay=0.0)",
                )

    def state(self) -> tuple[str, ...]:
        """Names of the per-parameter state tensors (shaped like the parameter, zero at first)."""
        return ("momentum_buffer",) if self.momentum else ()

    def update(
        self, b: Builder, p: Value, g: Value, state: list[Value]
    ) -> tuple[Value, list[Value]]:
        """Ops of one update of ``p`` by its gradient ``g``: the new parameter (fp32, before
        any storage rounding) and the new state."""
        d = g
        if self.weight_decay:
            d = b.create("add", [d, _scaled(b, p, self.weight_decay)])
        new_state: list[Value] = []
        if self.momentum:
            d = b.create("add", [_scaled(b, state[0], self.momentum), d])
            new_state.append(d)
        return b.create("sub", [p, _scaled(b, d, self.lr)]), new_state


def _scaled(b: Builder, x: Value, factor: float) -> Value:
    scale = b.create("full", [], {"value": float(factor)}, TensorType((), x.type.elem))
    return b.create("mul", [scale, x])
