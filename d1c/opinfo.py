"""Coverage of PyTorch's OpInfo database (``op_db``): every float32 operator, compiled and run.

Each sample of an OpInfo (float32, CPU, up to ``samples`` per op) is wrapped as an ``nn.Module``
whose inputs are the sample's tensors, compiled with ``d1c.compile(..., target, dtype)`` and run
on the simulator. The oracle is torch eager on the *same* inputs, rounded to the storage format
first (bf16, cfp8 via bf16 rounding is not exact: cfp8 sweeps compare within the derived bound),
so storage rounding of the inputs is not counted as an error. A sample is

- ``ok``: every output has eager's structure, shape and dtype, and each element is within
  ``|d1c - eager| <= tol(eager) + bound``: ``bound`` is d1c's derived error bound against the
  float64 reference (:meth:`d1c.Program.error_bounds`), ``tol`` eager's own fp32 error
  (rtol 1e-5, atol 1e-6), integer and bool outputs must be equal where the bound says they are
  exact; where the bound is infinite the storage format's tolerance is used instead
  (:data:`FORMAT_TOL`);
- ``unsupported``: d1c raised :class:`~d1c.errors.UnsupportedError` (an op it cannot lower);
- ``error``: another :class:`~d1c.errors.D1cError` (a clean error, such as a model torch.export
  cannot trace);
- ``wrong``: an output differs from eager (or has another shape, dtype or structure);
- ``crash``: any other exception: a d1c bug.

An op's status is its worst sample's (crash > wrong > error > unsupported > ok). Samples whose
eager call fails, or which do not involve tensors at all, are not counted (``skip``).

    python -m d1c.opinfo --dtype bf16 --jobs 2 --out opinfo.json [OP ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import re
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils import _pytree

RANK = {"ok": 0, "skip": 0, "unsupported": 1, "error": 2, "wrong": 3, "crash": 4}
STATUSES = ("ok", "unsupported", "error", "wrong", "crash")
EAGER_RTOL, EAGER_ATOL = 1e-5, 1e-6
# Where d1c's bound is infinite: the storage format's own relative tolerance (a few units in the
# last place) and an absolute floor scaled by the output's largest magnitude.
FORMAT_TOL = {"fp32": 1e-5, "bf16": 2.0**-6, "cfp8": 2.0**-2}
# Ops whose result values are unspecified (uninitialised memory): only shape and dtype count.
UNSPECIFIED_VALUES = ("empty", "empty_like", "new_empty", "new_empty_strided", "empty_strided")
UNSPECIFIED_VALUES += ("empty_permuted",)


@dataclass
class SampleResult:
    status: str
    detail: str = ""


@dataclass
class OpResult:
    name: str
    status: str
    samples: list[SampleResult] = field(default_factory=list)


def full_name(op: Any) -> str:
    """``name`` or ``name.variant`` of an OpInfo."""
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def float32_ops() -> list[Any]:
    """Every OpInfo of ``op_db`` that supports float32 on the CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_methods_invocations import op_db
    return [op for op in op_db if torch.float32 in op.supported_dtypes("cpu")]


class SampleModule(torch.nn.Module):
    """One OpInfo sample as a module: ``forward(*tensors)`` rebuilds the sample's arguments
    (non-tensor leaves are fixed) and calls the op."""

    def __init__(self, op: Any, spec: Any, leaves: Sequence[Any], slots: Sequence[int]) -> None:
        super().__init__()
        self.fn = op.op
        self.spec = spec
        self.leaves = list(leaves)
        self.slots = list(slots)

    def forward(self, *tensors: torch.Tensor) -> Any:
        leaves = list(self.leaves)
        for slot, t in zip(self.slots, tensors, strict=True):
            leaves[slot] = t
        inp, args, kwargs = _pytree.tree_unflatten(leaves, self.spec)
        return self.fn(inp, *args, **kwargs)


def rounded(t: torch.Tensor, dtype: str) -> torch.Tensor:
    """A float32 input as the storage format holds it (bf16 storage: rounded to bf16)."""
    t = t.detach().clone()
    if t.dtype == torch.float32 and dtype in ("bf16", "cfp8"):
        return t.to(torch.bfloat16).to(torch.float32)
    return t


def wrap(op: Any, sample: Any, dtype: str) -> tuple[SampleModule, tuple[torch.Tensor, ...]]:
    """The module of one sample and its (storage-rounded) input tensors."""
    leaves, spec = _pytree.tree_flatten((sample.input, tuple(sample.args), dict(sample.kwargs)))
    slots = [i for i, x in enumerate(leaves) if isinstance(x, torch.Tensor)]
    inputs = tuple(rounded(leaves[i], dtype) for i in slots)
    return SampleModule(op, spec, leaves, slots), inputs


def _leaves(out: Any) -> list[Any]:
    return _pytree.tree_leaves(out)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _unsupported(err: BaseException) -> str:
    """The ATen targets (or other problems) an UnsupportedError lists, else its first line."""
    names = re.findall(r"^\s*(aten\.[\w.]+|input \w+|output)\s", str(err), re.M)
    return ", ".join(dict.fromkeys(names)) if names else _first_line(err)


def compare(
    got: Any,
    want: Any,
    bounds: Sequence[tuple[np.ndarray, np.ndarray]] | None,
    dtype: str,
    name: str,
) -> str | None:
    """Why ``got`` is not ``want`` (None: it matches within tolerance and bound)."""
    g, w = _leaves(got), _leaves(want)
    if len(g) != len(w):
        return f"{len(g)} outputs, eager has {len(w)}"
    if _pytree.tree_structure(got) != _pytree.tree_structure(want):
        return "output structure differs from eager's"
    for i, (a, b) in enumerate(zip(g, w, strict=True)):
        bound = bounds[i][1] if bounds is not None and i < len(bounds) else None
        why = _compare_leaf(a, b, bound, dtype, name)
        if why:
            return f"output {i}: {why}"
    return None


def _compare_leaf(a: Any, b: Any, bound: np.ndarray | None, dtype: str, name: str) -> str | None:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return f"got {type(a).__name__}, eager {type(b).__name__}"
    if tuple(a.shape) != tuple(b.shape):
        return f"shape {list(a.shape)}, eager {list(b.shape)}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype}, eager {b.dtype}"
    if name in UNSPECIFIED_VALUES or a.numel() == 0:
        return None
    x = a.detach().to(torch.float64).numpy() if a.dtype != torch.bool else a.numpy()
    y = b.detach().to(torch.float64).numpy() if b.dtype != torch.bool else b.numpy()
    e = (
        np.zeros(x.shape)
        if bound is None
        else np.broadcast_to(np.asarray(bound, np.float64), x.shape)
    )
    if not (a.dtype.is_floating_point or a.dtype.is_complex):
        bad = (x != y) & ~(e > 0)
        return f"{int(bad.sum())} of {x.size} differ" if bad.any() else None
    return _float_mismatch(x, y, e, dtype)


def _float_mismatch(x: np.ndarray, y: np.ndarray, e: np.ndarray, dtype: str) -> str | None:
    with np.errstate(all="ignore"):
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        finite_y = np.abs(np.where(np.isfinite(y), y, 0.0))
        scale = float(finite_y.max(initial=0.0))
        fmt = FORMAT_TOL[dtype] * (finite_y + scale) + 1e-30
        slack = np.where(np.isfinite(e), e, fmt)
        allowed = EAGER_ATOL + EAGER_RTOL * finite_y + slack
        diff = np.abs(x - y)
        bad = ~same & ~(diff <= allowed)
    if not bad.any():
        return None
    i = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), x.shape)
    return (
        f"{int(bad.sum())} of {x.size} elements differ; at {tuple(int(v) for v in i)}: "
        f"d1c {x[i]!r}, eager {y[i]!r}, allowed {allowed[i]!r}"
    )


def run_sample(op: Any, sample: Any, dtype: str, target: str) -> SampleResult:
    """Compile, run and compare one sample (never raises)."""
    import d1c
    from d1c.errors import D1cError, UnsupportedError

    try:
        module, inputs = wrap(op, sample, dtype)
    except Exception as err:  # pragma: no cover - an OpInfo sample we cannot wrap
        return SampleResult("skip", _first_line(err))
    if not inputs:
        return SampleResult("skip", "no tensor inputs")
    try:
        with torch.no_grad():
            want = module(*[t.clone() for t in inputs])
    except Exception as err:
        return SampleResult("skip", "eager: " + _first_line(err))
    try:
        with _quiet():
            prog = d1c.compile(module, inputs, target=target, dtype=dtype)
            got = prog.run(*inputs)
    except UnsupportedError as err:
        return SampleResult("unsupported", _unsupported(err))
    except D1cError as err:
        return SampleResult("error", _first_line(err))
    except Exception as err:
        tb = traceback.extract_tb(err.__traceback__)[-1]
        return SampleResult("crash", f"{_first_line(err)} at {tb.filename}:{tb.lineno}")
    try:
        with _quiet():
            bounds = prog.error_bounds(*inputs)
    except D1cError as err:
        return SampleResult("error", "error bound: " + _first_line(err))
    except Exception as err:
        return SampleResult("crash", "error bound: " + _first_line(err))
    why = compare(got, want, bounds, dtype, op.name)
    return SampleResult("wrong", why) if why else SampleResult("ok")


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def samples_of(op: Any, count: int) -> list[Any]:
    """The first ``count`` float32 CPU samples of ``op`` (deterministic: seeded)."""
    torch.manual_seed(0)
    with _quiet():
        try:
            it = op.sample_inputs("cpu", torch.float32, requires_grad=False)
            return [s for _, s in zip(range(count), it, strict=False)]
        except Exception:
            return []


def run_op(op: Any, dtype: str = "bf16", target: str = "mini", samples: int = 3) -> OpResult:
    """The result of every sample of ``op`` and the op's status (its worst sample's)."""
    results = [run_sample(op, s, dtype, target) for s in samples_of(op, samples)]
    counted = [r for r in results if r.status != "skip"]
    status = max((r.status for r in counted), key=RANK.__getitem__, default="skip")
    return OpResult(full_name(op), status, results)


def summary(results: Iterable[OpResult]) -> dict[str, int]:
    counts = dict.fromkeys((*STATUSES, "skip"), 0)
    for r in results:
        counts[r.status] += 1
    return counts


def _worker(args: tuple[str, str, str, int]) -> dict:
    name, dtype, target, samples = args
    torch.set_num_threads(1)
    op = {full_name(o): o for o in float32_ops()}[name]
    return asdict(run_op(op, dtype, target, samples))


def sweep(
    names: Sequence[str] | None = None,
    *,
    dtype: str = "bf16",
    target: str = "mini",
    samples: int = 3,
    jobs: int = 1,
) -> list[dict]:
    """Run the named OpInfos (default: every float32 one); one dict per op."""
    every = [full_name(o) for o in float32_ops()]
    todo = every if not names else [n for n in every if n in set(names)]
    work = [(n, dtype, target, samples) for n in todo]
    if jobs <= 1:
        return [_worker(w) for w in work]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(jobs, maxtasksperchild=20) as pool:
        return list(pool.imap(_worker, work, chunksize=1))


def write_table(path: str, rows: list[dict], meta: dict) -> None:
    """The per-op table and its summary as JSON."""
    counts = dict.fromkeys((*STATUSES, "skip"), 0)
    for r in rows:
        counts[r["status"]] += 1
    data = {"meta": meta, "summary": counts, "ops": {r["name"]: r for r in rows}}
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m d1c.opinfo", description=__doc__)
    p.add_argument("ops", nargs="*", help="OpInfo names (default: all float32 ones)")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--target", default="mini")
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="opinfo.json")
    a = p.parse_args(argv)
    start = time.time()
    rows = sweep(a.ops, dtype=a.dtype, target=a.target, samples=a.samples, jobs=a.jobs)
    meta = {"dtype": a.dtype, "target": a.target, "samples": a.samples, "torch": torch.__version__}
    meta["seconds"] = math.ceil(time.time() - start)
    write_table(a.out, rows, meta)
    counts = dict.fromkeys((*STATUSES, "skip"), 0)
    for r in rows:
        counts[r["status"]] += 1
        if r["status"] in ("crash", "wrong", "error"):
            details = {s["detail"] for s in r["samples"] if s["status"] == r["status"]}
            print(f"{r['status']:12} {r['name']}: {' | '.join(sorted(details))[:400]}")
    print(", ".join(f"{k} {v}" for k, v in counts.items()), f"({len(rows)} ops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
