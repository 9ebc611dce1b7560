"""The Python API: the README snippet runs verbatim; ``run`` is bit-identical to the placed IR
interpreted and to the numpy packing path, within the derived bound of float64; output trees and
dtypes; report figures; IR text per stage; save/load; errors; ``import d1c`` stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import d1c
from d1c.errors import D1cError
from d1c.interp import interpret
from d1c.runtime.sim import simulate

ROOT = Path(__file__).resolve().parents[2]


def _bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.uint32)


class Mixed(torch.nn.Module):
    """Two inputs and a dict of outputs of three dtypes."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16, 8)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> dict:
        h = torch.tanh(self.fc(x))
        return {"h": h, "pos": h > 0, "ids": ids * 2}


@pytest.fixture(scope="module")
def mixed():
    torch.manual_seed(1)
    model = Mixed().eval()
    x, ids = torch.randn(4, 16), torch.randint(0, 100, (4, 3), dtype=torch.int32)
    return model, (x, ids), d1c.compile(model, (x, ids), target="mini")


def test_readme_snippet_runs(tmp_path, monkeypatch, capsys) -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S)
    assert block is not None, "README.md has no Python API code block"
    monkeypatch.chdir(tmp_path)
    torch._dynamo.reset()
    exec(compile(block.group(1), "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "cycles" in out and "module @sequential" in out and "(8, 10)" in out
    assert (tmp_path / "mlp.d1x").stat().st_size > 0


def test_run_is_the_placed_ir_bit_for_bit(mixed) -> None:
    _model, (x, ids), prog = mixed
    out = prog.run(x, ids)
    placed = interpret(prog._stages["placed"], [x.numpy(), ids.numpy()])
    assert np.array_equal(_bits(out["h"]), _bits(placed[0]))
    assert np.array_equal(out["pos"].numpy(), placed[1].astype(bool))
    assert np.array_equal(out["ids"].numpy(), ids.numpy() * 2)
    numpy_path = simulate(prog.program, None, prog._symbol_inputs((x.numpy(), ids.numpy())))
    assert np.array_equal(_bits(out["h"]), _bits(numpy_path.outputs["out0"]))


def test_outputs_keep_the_model_tree_and_dtypes(mixed) -> None:
    model, inputs, prog = mixed
    out = prog.run(*inputs)
    with torch.no_grad():
        eager = model(*inputs)
    assert out.keys() == eager.keys()
    for k in eager:
        assert out[k].dtype == eager[k].dtype and out[k].shape == eager[k].shape


class Shapes(torch.nn.Module):
    """A rank-0 sum, a named tuple (``aminmax``), bf16 and fp16 results."""

    def forward(self, x: torch.Tensor) -> tuple:
        return x.sum(), torch.aminmax(x, dim=1), (2 * x).to(torch.bfloat16), x.half()


def test_rank0_named_tuple_and_narrow_float_outputs(tmp_path) -> None:
    x = torch.randn(3, 5).to(torch.bfloat16).float()  # exact in bf16: bf16/fp16 outputs match
    model = Shapes()
    prog = d1c.compile(model, x, target="mini")
    prog.save(tmp_path / "s.d1x")
    with torch.no_grad():
        eager = model(x)
    for out in (prog.run(x), d1c.load(tmp_path / "s.d1x").run(x)):
        assert type(out[1]) is torch.return_types.aminmax
        assert out[1].min.shape == (3,) and torch.equal(out[1].max, eager[1].max)
        got, want = torch.utils._pytree.tree_leaves(out), torch.utils._pytree.tree_leaves(eager)
        assert [(t.shape, t.dtype) for t in got] == [(t.shape, t.dtype) for t in want]
        assert (
            out[0].shape == () and torch.equal(out[2], eager[2]) and torch.equal(out[3], eager[3])
        )


@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
def test_within_the_derived_bound(dtype: str) -> None:
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(32, 48), torch.nn.GELU(), torch.nn.Linear(48, 5))
    x = torch.randn(6, 32)
    prog = d1c.compile(model, x, target="mini", dtype=dtype)
    y = prog.run(x).numpy().astype(np.float64)
    ((ref, bound),) = prog.error_bounds(x)
    assert np.all(np.abs(y - ref) <= bound) and bound.max() > 0
    with torch.no_grad():
        eager = model(x).numpy().astype(np.float64)
    assert np.abs(eager - ref).max() < 1e-5  # the reference is the model's real-number value


def test_report_figures(mixed) -> None:
    _model, inputs, prog = mixed
    fresh = d1c.api.Program(prog.program, prog.info)
    before = fresh.report()  # timing-only: no run yet
    fresh.run(*inputs)
    after = fresh.report()
    assert before.cycles == after.cycles > 0 and after.cores >= 1
    target = d1c.target.load_target("mini")
    assert after.utilization == after.macs / (target.peak_macs_per_cycle * after.cycles)
    assert after.sram_peak == int(dict(prog.program.meta)["sram_peak"]) <= target.sram_bytes
    text = str(after)
    assert f"{after.cycles:,} cycles" in text and "SRAM peak per core" in text


def test_ir_of_every_stage(mixed) -> None:
    _, _, prog = mixed
    for stage in ("graph", "quantized", "tiled", "placed"):
        assert prog.ir(stage).startswith("module @mixed")
    assert "halt" in prog.ir("asm")
    assert 'define void @"d1c_pack_s0_n0_rne"' in prog.ir("host-ir")
    with pytest.raises(D1cError, match="unknown stage"):
        prog.ir("llvm")


def test_save_and_load(mixed, tmp_path) -> None:
    _, inputs, prog = mixed
    path = tmp_path / "mixed.d1x"
    prog.save(path)
    again = d1c.load(path)
    assert again.to_bytes() == path.read_bytes()
    a, b = prog.run(*inputs), again.run(*inputs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert again.ir("tiled") == prog.ir("tiled") and again.ir("asm") == prog.ir("asm")
    with pytest.raises(D1cError, match="constant data"):
        again.ir("graph", elide_data=False)
    with pytest.raises(D1cError, match="compile, not load"):
        again.error_bounds(*inputs)


def test_errors_are_d1c_errors(mixed, tmp_path) -> None:
    _, (x, _), prog = mixed
    with pytest.raises(D1cError, match="takes 2 input"):
        prog.run(x)
    with pytest.raises(D1cError, match="shape"):
        prog.run(x[:2], torch.zeros(4, 3, dtype=torch.int32))
    with pytest.raises(D1cError, match="tensors or numpy"):
        prog.run("x", "y")
    with pytest.raises(D1cError, match="unknown dtype"):
        d1c.compile(torch.nn.ReLU(), torch.randn(2), dtype="fp8")
    with pytest.raises(D1cError, match="cannot read"):
        d1c.load(tmp_path / "missing.d1x")
    plain = tmp_path / "plain.d1x"
    plain.write_bytes(prog.program.to_bytes())
    with pytest.raises(D1cError, match="no 'api' blob"):
        d1c.load(plain)


def test_import_stays_light() -> None:
    code = (
        "import sys, d1c, d1c.isa; assert 'torch' not in sys.modules, 'torch imported';"
        "assert d1c.__version__; f = d1c.compile; assert 'torch' not in sys.modules;"
        "assert callable(f) and d1c.load and d1c.Program"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class Fn(torch.nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor):
        return self.fn(*xs)


ZERO_SIZE = {
    "mm": (lambda a, b: a @ b, ((0, 5), (5, 10))),
    "std": (lambda a: a.std(), ((0,),)),
    "var_one": (lambda a: torch.var(a, dim=0), ((1, 3),)),
    "vecdot": (lambda a, b: torch.linalg.vecdot(a, b), ((0,), (0,))),
    "adaptive_avg_pool1d": (lambda a: torch.nn.functional.adaptive_avg_pool1d(a, 3), ((0, 8, 8),)),
    "sum": (lambda a: a.sum(), ((2, 0),)),
    "empty_slice": (lambda a: a[:, :0] + 1, ((2, 3),)),
    "two_outputs": (lambda a: (a * 2, a.sum(1), a.amax(0)), ((3, 0),)),
}


@pytest.mark.parametrize("case", ZERO_SIZE)
def test_zero_size_tensors(case: str) -> None:
    """Empty operands and results compile and run (they are known at compile time)."""
    fn, shapes = ZERO_SIZE[case]
    xs = tuple(torch.randn(s).to(torch.bfloat16).float() for s in shapes)
    got = d1c.compile(Fn(fn), xs, target="mini").run(*xs)
    want = fn(*xs)
    leaves = torch.utils._pytree.tree_leaves
    for g, w in zip(leaves(got), leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        torch.testing.assert_close(g, w, equal_nan=True, rtol=0, atol=0)


def test_bool_to_integer_counts_on_the_device() -> None:
    """i1 (bf16 0/1 on the device) converted to int64 and summed: count_nonzero and a masked
    mean (the simulator rejected the raw copy of bf16 codes into i32 tiles)."""
    x = torch.randn(5, 7).to(torch.bfloat16).float()
    x[x.abs() < 0.3] = 0

    def fn(a):
        return torch.count_nonzero(a, dim=1), (a > 0).sum(), torch.masked.mean(a, mask=a > 0)

    prog = d1c.compile(Fn(fn), x, target="mini")
    count, positive, mean = prog.run(x)
    want = fn(x)
    assert torch.equal(count, want[0]) and torch.equal(positive, want[1])
    ((ref, bound),) = prog.error_bounds(x)[2:]
    assert abs(float(mean) - ref) <= bound and abs(float(want[2]) - ref) < 1e-6


def test_fp32_storage_has_no_quantization_noise() -> None:
    """dtype fp32: no value is rounded to a storage format (matmuls on fp32 operands), so the
    result is eager's up to fp32 rounding order, and the derived bound is fp32-sized."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Linear(24, 40), torch.nn.GELU(), torch.nn.Linear(40, 7), torch.nn.Softmax(-1)
    )
    x = torch.randn(6, 24)
    prog = d1c.compile(model, x, target="mini", dtype="fp32")
    assert "bf16" not in prog.ir("quantized") and "bf16" not in prog.ir("tiled")
    y = prog.run(x)
    with torch.no_grad():
        eager = model(x)
    torch.testing.assert_close(y, eager, rtol=1e-6, atol=1e-7)
    ((ref, bound),) = prog.error_bounds(x)
    assert np.all(np.abs(y.numpy() - ref) <= bound) and bound.max() < 1e-5
