"""Host code inside the simulator and the CLI: ``simulate(..., io=HostCode)`` gives the same
outputs and codes as the numpy path (compiled model, hand-written SRAM placements), the IR
shown by ``d1c compile --emit host-ir`` is the stored blob and valid LLVM IR, and ``d1c run``
packs through the host code."""

from __future__ import annotations

from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import pytest
from click.testing import CliRunner

from d1c import driver
from d1c.cli import main
from d1c.codegen.emit import input_arrays
from d1c.isa.asm import assemble
from d1c.runtime.host import HostCode, host_ir, stored_ir
from d1c.runtime.host.host import HostCode as HostCodeClass
from d1c.runtime.sim import simulate

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def mlp():
    src = driver.load_source(str(ROOT / "examples" / "mlp.py"))
    opts = driver.Options("mini", "cfp8", tuple(src.inputs))
    placed = driver.compile_stages(src.module, "placed", opts)["placed"]
    prog = driver.build(placed, opts)
    return prog, input_arrays(placed.main, src.inputs, prog)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).view(np.uint32)


def _same(a, b) -> None:
    assert a.outputs.keys() == b.outputs.keys() and a.cycles == b.cycles
    for k in a.outputs:
        assert a.outputs[k].dtype == b.outputs[k].dtype
        assert np.array_equal(_bits(a.outputs[k]), _bits(b.outputs[k]))
        assert np.array_equal(a.output_codes[k], b.output_codes[k])


def test_compiled_model_same_bits_with_host_code(mlp) -> None:
    prog, inputs = mlp
    assert stored_ir(prog) == host_ir(prog)
    _same(simulate(prog, None, inputs, io=HostCode.of(prog)), simulate(prog, None, inputs))


def test_sram_placements_same_bits_with_host_code() -> None:
    prog = assemble((ROOT / "tests" / "runtime" / "programs" / "ring.s").read_text())
    x = np.random.default_rng(3).standard_normal((8, 16)).astype(np.float32)
    _same(simulate(prog, None, {"x": x}, io=HostCode.of(prog)), simulate(prog, None, {"x": x}))


def test_emit_host_ir_is_the_blob_and_parses(tmp_path: Path) -> None:
    model = str(ROOT / "examples" / "mlp.py")
    runner = CliRunner()
    res = runner.invoke(main, ["compile", model, "--target", "mini", "--emit", "host-ir"])
    assert res.exit_code == 0, res.output
    assert 'define void @"d1c_pack_s0_n0_rne"' in res.output
    assert "; 3. inputs:" in res.output and "unpack out0" in res.output
    llvm.initialize_native_target()
    llvm.parse_assembly(res.output).verify()
    out = tmp_path / "mlp.d1x"
    res = runner.invoke(main, ["compile", model, "--target", "mini", "-o", str(out)])
    assert res.exit_code == 0, res.output
    from d1c.isa.d1x import read_d1x

    assert (
        stored_ir(read_d1x(out.read_bytes()))
        == runner.invoke(main, ["compile", model, "--target", "mini", "--emit", "host-ir"]).output
    )


def test_run_uses_host_code(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real_pack, real_unpack = HostCodeClass.pack, HostCodeClass.unpack
    monkeypatch.setattr(
        HostCodeClass, "pack", lambda *a, **k: calls.append("pack") or real_pack(*a, **k)
    )
    monkeypatch.setattr(
        HostCodeClass, "unpack", lambda *a, **k: calls.append("unpack") or real_unpack(*a, **k)
    )
    ring = ROOT / "tests" / "runtime" / "programs" / "ring.s"
    x = np.random.default_rng(5).standard_normal((8, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    res = CliRunner().invoke(
        main, ["run", str(ring), "--input", f"x={tmp_path / 'x.npy'}", "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert calls == ["pack", "unpack"]
    assert np.array_equal(_bits(np.load(tmp_path / "o" / "y.npy")), _bits(np.roll(x, 1, axis=0)))
