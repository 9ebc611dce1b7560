"""Evaluators of ops that move, select or create data without arithmetic: ``reshape``,
``broadcast_to``, ``permute``, ``slice``, ``concat``, ``pad``, ``embedding``, ``iota``, ``full``,
``const`` and ``return``. All are exact."""

from __future__ import annotations

import math

import numpy as np

from d1c.interp.core import Call, register_eval, round_constant
from d1c.ir.types import I1, ElemType


@register_eval("reshape")
def _reshape(c: Call) -> np.ndarray:
    return c.args[0].reshape(c.type.shape)


@register_eval("broadcast_to")
def _broadcast_to(c: Call) -> np.ndarray:
    return np.broadcast_to(c.args[0], c.type.shape)


@register_eval("permute")
def _permute(c: Call) -> np.ndarray:
    return np.transpose(c.args[0], c.attrs["dims"])


@register_eval("slice")
def _slice(c: Call) -> np.ndarray:
    a = c.attrs
    index = [slice(None)] * c.args[0].ndim
    index[a["dim"]] = slice(a["start"], a["end"], a["step"])
    return c.args[0][tuple(index)]


@register_eval("concat")
def _concat(c: Call) -> np.ndarray:
    return np.concatenate(c.args, axis=c.attrs["dim"])


@register_eval("pad")
def _pad(c: Call) -> np.ndarray:
    pads = c.attrs["pads"]
    widths = [(pads[2 * i], pads[2 * i + 1]) for i in range(c.args[0].ndim)]
    fill = scalar(c, c.attrs["value"], c.elem)
    if not widths:  # rank 0: nothing to pad (numpy cannot pad a 0-d array)
        return c.args[0].copy()
    return np.pad(c.args[0], widths, constant_values=fill)


@register_eval("embedding")
def _embedding(c: Call) -> np.ndarray:
    weight, idx = c.args
    rows = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        bad = idx[(idx < 0) | (idx >= rows)].flat[0]
        raise c.fail(f"index {bad} is out of range for {rows} rows")
    return weight[idx]


@register_eval("iota")
def _iota(c: Call) -> np.ndarray:
    shape, dim = c.type.shape, c.attrs["dim"]
    line = np.arange(shape[dim]).reshape([-1 if i == dim else 1 for i in range(len(shape))])
    host = np.dtype(c.elem.host_dtype)
    vals = line.astype(np.float32) if host.kind == "f" else line.astype(host)
    return np.ascontiguousarray(np.broadcast_to(vals, shape))


@register_eval("full")
def _full(c: Call) -> np.ndarray:
    return np.full(c.type.shape, scalar(c, c.attrs["value"], c.elem))


@register_eval("const")
def _const(c: Call) -> np.ndarray:
    return c.module.consts[c.attrs["name"].name]


@register_eval("return")
def _return(c: Call) -> list[np.ndarray]:
    return list(c.args)


def scalar(c: Call, value: float, elem: ElemType) -> np.ndarray:
    """A float attribute as a rank-0 array of ``elem``: floats round to fp32 (RNE) then are
    stored in ``elem`` as constants are (:func:`~d1c.interp.core.round_constant`); i1 is
    ``value != 0``; integer types need an integral value in range."""
    host = np.dtype(elem.host_dtype)
    if elem.is_float:
        return round_constant(np.asarray(value, dtype=np.float32), elem)
    if elem == I1:
        return np.asarray(value != 0)
    info = np.iinfo(host)
    if not (math.isfinite(value) and value == int(value) and info.min <= value <= info.max):
        raise c.fail(f"value {value!r} is not representable in {elem}")
    return np.asarray(int(value), dtype=host)
