"""Semantics functions of the table against independent oracles: numpy wrapping integers, torch,
float64, hand-computed values (the example program is executed in test_tiles.py)."""

from __future__ import annotations

import operator

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from d1c.isa import fpmath, spec
from d1c.isa import semantics as s
from d1c.isa.errors import SimulationError

U32 = st.integers(0, 0xFFFFFFFF)
RNG = np.random.default_rng(2024)


def _u(v: int) -> np.ndarray:
    return np.array([v & 0xFFFFFFFF], dtype=np.uint32)


def _i(v: int) -> np.ndarray:
    return _u(v).view(np.int32)


# numpy's wrapping uint32/int32 arithmetic is the oracle for the Python-int scalar semantics.
ALU_REF = {
    "add": lambda a, b: _u(a) + _u(b),
    "sub": lambda a, b: _u(a) - _u(b),
    "mul": lambda a, b: _u(a) * _u(b),
    "and": lambda a, b: _u(a) & _u(b),
    "or": lambda a, b: _u(a) | _u(b),
    "xor": lambda a, b: _u(a) ^ _u(b),
    "sll": lambda a, b: _u(a) << (_u(b) & 31),
    "srl": lambda a, b: _u(a) >> (_u(b) & 31),
    "sra": lambda a, b: (_i(a) >> (_u(b) & 31).astype(np.int32)).view(np.uint32),
    "slt": lambda a, b: (_i(a) < _i(b)).astype(np.uint32),
    "sltu": lambda a, b: (_u(a) < _u(b)).astype(np.uint32),
    "divu": lambda a, b: _u(a) // _u(b) if b & 0xFFFFFFFF else _u(0xFFFFFFFF),
    "remu": lambda a, b: _u(a) % _u(b) if b & 0xFFFFFFFF else _u(a),
}
ALU_REF.update(
    {k + "i": ALU_REF[k] for k in ("add", "and", "or", "xor", "sll", "srl", "sra", "slt")}
)
ALU_ROWS = [r for r in spec.ROWS if r.exec in ("alu", "alu_imm")]


@pytest.mark.parametrize("row", ALU_ROWS, ids=[r.name for r in ALU_ROWS])
def test_scalar_alu_against_numpy_wrapping(row: spec.Row) -> None:
    imm = row.fields[-1] if row.exec == "alu_imm" else None
    second = st.integers(*spec.field_range(imm)) if imm else U32

    @settings(max_examples=60, deadline=None)
    @given(U32, second)
    def check(a: int, b: int) -> None:
        with np.errstate(all="ignore"):
            assert row.sem(a, b) == int(ALU_REF[row.name](a, b)[0])

    check()


BRANCH_REF = {
    "beq": lambda a, b: _u(a) == _u(b),
    "bne": lambda a, b: _u(a) != _u(b),
    "blt": lambda a, b: _i(a) < _i(b),
    "bge": lambda a, b: _i(a) >= _i(b),
    "bltu": lambda a, b: _u(a) < _u(b),
    "bgeu": lambda a, b: _u(a) >= _u(b),
}


@pytest.mark.parametrize("name", list(BRANCH_REF))
@given(a=U32, b=U32)
@settings(max_examples=40, deadline=None)
def test_branch_conditions(name: str, a: int, b: int) -> None:
    assert spec.BY_NAME[name].sem(a, b) == bool(BRANCH_REF[name](a, b)[0])


def test_control_and_constant_hand_values() -> None:
    assert s.loop(3) == (2, True) and s.loop(1) == (0, False) and s.loop(0) == (0xFFFFFFFF, True)
    assert s.jal(0x100, -2) == (0x104, 0xF8) and s.j(8, 3) == 20
    assert s.jalr(0x10, 0x203, 2) == (0x14, 0x204)
    assert s.li(-1) == 0xFFFFFFFF and s.lui(0x3F800) == 0x3F800000 and s.ea(0xFFFFFFFC, 8) == 4
    assert s.divu(7, 0) == 0xFFFFFFFF and s.remu(7, 0) == 7


def test_sync_and_coordinates() -> None:
    assert s.pack_coord(1, 2, 3, 4) == 0x01020304 and s.unpack_coord(0x01020304) == (1, 2, 3, 4)
    assert s.sem_wait(3, 2) == (1, True) and s.sem_wait(1, 2) == (1, False) and s.sem_signal(4) == 5
    assert s.barrier(4, 4) and not s.barrier(3, 4)


# ---------------------------------------------------------------- float32 tile arithmetic
SPECIALS = np.array(
    [0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 1e-45, 3e38, -7e-39], dtype=np.float32
)


def _floats(shape: tuple[int, ...]) -> np.ndarray:
    x = (RNG.standard_normal(shape) * np.exp2(RNG.integers(-20, 20, shape))).astype(np.float32)
    flat = x.reshape(-1)
    flat[: SPECIALS.size] = SPECIALS[: flat.size]
    RNG.shuffle(flat)
    return x


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    assert got.shape == want.shape
    assert (np.isnan(got) == np.isnan(want)).all()
    assert (got.view(np.uint32)[np.isnan(got)] == 0x7FC00000).all(), "NaN must be canonical"
    ok = ~np.isnan(want)
    assert (got.view(np.uint32)[ok] == want.view(np.uint32)[ok]).all()


TORCH_BINARY = {s.fadd: torch.add, s.fsub: torch.sub, s.fmul: torch.mul, s.fdiv: torch.div}


@pytest.mark.parametrize("fn", list(TORCH_BINARY), ids=lambda f: f.__name__)
@pytest.mark.parametrize("bshape", [(16, 12), (16, 1), (1, 12), ()])
def test_binary_ops_bitwise_against_torch(fn, bshape: tuple[int, ...]) -> None:
    a, b = _floats((16, 12)), _floats(bshape) if bshape else np.float32(-2.5)
    want = TORCH_BINARY[fn](torch.from_numpy(a), torch.as_tensor(b)).numpy()
    _same_bits(fn(a, b), want)
    _same_bits(s.frsub(a, b), torch.sub(torch.as_tensor(b), torch.from_numpy(a)).numpy())


@pytest.mark.parametrize(("fn", "ref"), [(s.fmax, torch.maximum), (s.fmin, torch.minimum)])
def test_max_min_against_torch_and_zero_rule(fn, ref) -> None:
    a, b = _floats((20, 9)), _floats((20, 9))
    _same_bits(fn(a, b), ref(torch.from_numpy(a), torch.from_numpy(b)).numpy())  # NaN propagates
    pz, nz = np.float32(0.0), np.float32(-0.0)
    assert np.signbit(fn(nz, pz)) and not np.signbit(fn(pz, nz))  # ties keep the first operand


@pytest.mark.parametrize("cond", list(spec.ENUMS["cond"]))
def test_compare_against_python_floats(cond: str) -> None:
    ops = {
        "eq": operator.eq,
        "ne": operator.ne,
        "lt": operator.lt,
        "le": operator.le,
        "gt": operator.gt,
        "ge": operator.ge,
    }
    a, b = _floats((9, 9)), _floats((9, 9))
    b[::2] = a[::2]
    want = [
        [1.0 if ops[cond](float(x), float(y)) else 0.0 for x, y in zip(ra, rb, strict=True)]
        for ra, rb in zip(a, b, strict=True)
    ]
    assert s.fcmp(a, b, cond).tolist() == want


def test_select_fill_convert() -> None:
    m, a, b = _floats((8, 8)), _floats((8, 8)), _floats((8, 8))
    _same_bits(
        s.select(m, a, b),
        torch.where(torch.from_numpy(m) != 0, torch.from_numpy(a), torch.from_numpy(b)).numpy(),
    )
    assert s.select(np.float32(np.nan), np.float32(1), np.float32(2)) == 1  # NaN mask is "true"
    _same_bits(s.fill(np.float32(-0.0), 2, 3), np.full((2, 3), -0.0, np.float32))
    _same_bits(s.convert(a), a)


@pytest.mark.parametrize("name", list(fpmath.FUNCTIONS))
def test_transcendental_rows_within_fpmath_bound_of_float64(name: str) -> None:
    fn = fpmath.FUNCTIONS[name]
    x = fpmath.sample_domain(fn, 4096, seed=3)
    with np.errstate(all="ignore"):
        err = fpmath.ulp_distance(s.unary(x, name), fn.reference(x))
    assert err.max() <= fn.ulp_bound <= 4


def _sqrt64(x: torch.Tensor) -> torch.Tensor:
    """sqrt in float64 rounded once to float32: correctly rounded (53 >= 2*24 + 2 bits), unlike
    torch's vectorised float32 sqrt on this host, which is off by one ulp on some inputs."""
    return torch.sqrt(x.double()).float()


@pytest.mark.parametrize(
    ("name", "ref"),
    [("sqrt", _sqrt64), ("neg", torch.neg), ("abs", torch.abs), ("relu", torch.relu)],
)
def test_exact_unary_functions_against_torch(name: str, ref) -> None:
    x = _floats((30, 7))
    want = ref(torch.from_numpy(x)).numpy()
    got = s.unary(x, name)
    if name == "relu":  # the ISA's relu gives +0 for -0 (torch keeps -0)
        want = np.where(want == 0, np.float32(0), want)
        assert not np.signbit(got[x == 0]).any()
    _same_bits(got, want)


def test_every_func_enum_is_implemented() -> None:
    x = np.linspace(0.5, 2, 7, dtype=np.float32)
    for name in spec.ENUMS["func"]:
        assert s.unary(x, name).dtype == np.float32 and s.unary(x, name).shape == x.shape


# ---------------------------------------------------------------- reductions and mma
def _seq_sum(values: list[float], start: float) -> np.float32:
    acc = np.float32(start)
    for v in values:
        acc = np.float32(acc + np.float32(v))
    return acc


def test_sum_is_sequential_left_to_right() -> None:
    x = np.array([[1e8, 1.0, -1e8, 1.0], [3.0, 1e-8, 1e-8, -3.0]], dtype=np.float32)
    got = s.reduce(x, "sum", "cols")
    assert got.tolist() == [[1.0], [0.0]]  # ((1e8 + 1) - 1e8) + 1 = 1 in fp32, not 2
    for axis in ("rows", "cols"):
        y = _floats((6, 5))
        y[np.isnan(y) | np.isinf(y)] = 1.0
        lanes = y if axis == "rows" else y.T
        want = [_seq_sum(list(lanes[:, j]), -0.0) for j in range(lanes.shape[1])]
        got = s.reduce(y, "sum", axis).reshape(-1)
        assert got.view(np.uint32).tolist() == np.array(want, np.float32).view(np.uint32).tolist()


def test_reduce_identities_nan_and_accumulate() -> None:
    assert np.signbit(s.reduce(np.full((3, 2), -0.0, np.float32), "sum", "rows")).all()
    x = _floats((5, 4))
    finite = np.where(np.isnan(x), np.float32(1), x)
    assert (
        s.reduce(finite, "max", "rows")
        == torch.amax(torch.from_numpy(finite), 0, keepdim=True).numpy()
    ).all()
    assert (
        s.reduce(finite, "min", "cols")
        == torch.amin(torch.from_numpy(finite), 1, keepdim=True).numpy()
    ).all()
    assert np.isnan(s.reduce(np.array([[1, np.nan, 2]], np.float32), "max", "cols")).all()
    init = np.array([[10.0], [-1.0]], np.float32)
    got = s.reduce(np.array([[1, 2], [3, 4]], np.float32), "sum", "cols", init=init)
    assert got.tolist() == [[13.0], [6.0]]


def _mma_reference(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element by element with float32 scalars: acc = fp32(acc + fp32(a*b)) for k in order."""
    out = acc.astype(np.float32).copy()
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            c = out[i, j]
            for k in range(a.shape[1]):
                c = np.float32(c + np.float32(a[i, k] * b[k, j]))
            out[i, j] = c
    return out


def _bf16_values(shape: tuple[int, ...]) -> np.ndarray:
    return (RNG.standard_normal(shape) * 4).astype(ml_dtypes.bfloat16).astype(np.float32)


@pytest.mark.parametrize(("m", "n", "k"), [(5, 7, 9), (8, 8, 4), (1, 3, 17)])
def test_mma_equals_independent_sequential_reference(m: int, n: int, k: int) -> None:
    a, b, acc = (
        _bf16_values((m, k)),
        _bf16_values((k, n)),
        RNG.standard_normal((m, n)).astype(np.float32),
    )
    with np.errstate(all="ignore"):
        assert (
            s.mma(acc, a, b).view(np.uint32).tolist()
            == _mma_reference(acc, a, b).view(np.uint32).tolist()
        )
    exact = a[:, :, None].astype(np.float64) * b[None, :, :].astype(np.float64)
    assert (np.float32(0) + exact.astype(np.float32) == exact).all()  # bf16 products fit fp32


def test_mma_order_matters_and_zero_mode_sign() -> None:
    a = np.array([[1e8, 1.0, -1e8]], np.float32)
    b = np.ones((3, 1), np.float32)
    assert s.mma(np.zeros((1, 1), np.float32), a, b).tolist() == [[0.0]]  # not 1: sequential in K
    neg = s.mma(
        np.zeros((1, 1), np.float32), np.array([[-1.0]], np.float32), np.array([[0.0]], np.float32)
    )
    assert not np.signbit(neg).any()  # +0 + (-0) = +0


def test_mma_close_to_float64_within_accumulation_bound() -> None:
    a, b = _bf16_values((16, 64)), _bf16_values((64, 16))
    exact = a.astype(np.float64) @ b.astype(np.float64)
    bound = 64 * 2.0**-24 * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert (np.abs(s.mma(np.zeros((16, 16), np.float32), a, b) - exact) <= bound).all()


# ---------------------------------------------------------------- moves
def test_moves_against_torch() -> None:
    codes = RNG.integers(0, 1 << 16, (6, 5)).astype(np.uint16)
    t = torch.from_numpy(codes.astype(np.int32))
    assert (s.copy(codes) == codes).all() and s.copy(codes) is not codes
    assert (s.transpose(codes) == t.T.numpy()).all()
    assert (s.broadcast(codes[:1], "rows", 4, 5) == t[:1].expand(4, 5).numpy()).all()
    assert (s.broadcast(codes[:, :1], "cols", 6, 3) == t[:, :1].expand(6, 3).numpy()).all()
    idx = np.array([[4], [0], [4]], np.int32)
    assert (
        s.gather(codes, idx, "rows") == t.index_select(0, torch.tensor([4, 0, 4])).numpy()
    ).all()
    assert (
        s.gather(codes, idx.T, "cols") == t.index_select(1, torch.tensor([4, 0, 4])).numpy()
    ).all()


def test_shape_and_index_faults_are_simulation_errors() -> None:
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(SimulationError, match="mma: shapes"):
        s.mma(np.zeros((2, 2), np.float32), z, z)
    with pytest.raises(SimulationError, match="tbcast along rows"):
        s.broadcast(np.zeros((3, 1), np.uint16), "rows", 3, 4)
    with pytest.raises(SimulationError, match=r"tgather: index 5 outside 0\.\.4"):
        s.gather(np.zeros((5, 2), np.uint8), np.array([0, 5], np.int32), "rows")
    with pytest.raises(SimulationError, match="tgather: index -1"):
        s.gather(np.zeros((2, 5), np.uint8), np.array([-1], np.int32), "cols")
