"""FP32 transcendentals (d1c.isa.fpmath) against float64 references, torch, and hand values."""

from __future__ import annotations

import ast
import hashlib
import inspect
import math

import numpy as np
import pytest
import torch

from d1c.isa import fpmath
from d1c.isa.fpmath import FUNCTIONS, sample_domain, ulp_distance

F32 = np.float32
NAMES = sorted(FUNCTIONS)
MAXF = float(np.finfo(F32).max)


def bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=F32).view(np.uint32)


def f32(*vals: float) -> np.ndarray:
    return np.array(vals, dtype=F32)


# ---- the ulp metric itself ------------------------------------------------------------------


def test_ulp_distance_hand_values() -> None:
    one = F32(1.0)
    tiny = F32(float.fromhex("0x1p-149"))
    got = f32(1.0, np.nextafter(one, F32(2)), -tiny, -0.0, MAXF, np.nan, np.nan, 2.0)
    want = np.array([1.0, 1.0, tiny, 0.0, np.inf, np.nan, 1.0, 1.0])
    assert ulp_distance(got, want).tolist() == [0, 1, 2, 0, 1, 0, 1 << 32, 1 << 23]


def test_ulp_distance_matches_spacing_on_random_values() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1e6, 1e6, 10_000).astype(F32)
    k = rng.integers(-5, 6, x.size)
    y = x.copy()
    for i in range(5):  # step |k| ulps away by repeated nextafter (independent of the ordinals)
        step = np.where(k > 0, np.nextafter(y, F32(np.inf)), np.nextafter(y, F32(-np.inf)))
        y = np.where(np.abs(k) > i, step, y).astype(F32)
    assert (ulp_distance(y, x.astype(np.float64)) == np.abs(k)).all()


# ---- accuracy over the documented domains ---------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_max_ulp_over_domain(name: str) -> None:
    row = FUNCTIONS[name]
    assert row.ulp_bound <= fpmath.ULP_CONTRACT == 4
    x = sample_domain(row, 1 << 20)
    assert x.dtype == F32 and (x >= F32(row.lo)).all() and (x <= F32(row.hi)).all()
    with np.errstate(all="ignore"):
        d = ulp_distance(row.fn(x), row.reference(x))
    worst = int(d.argmax())
    assert d[worst] <= row.ulp_bound, f"{name}({x[worst]!r}) is {d[worst]} ulp off"


def test_max_ulp_error_helper_agrees() -> None:
    assert fpmath.max_ulp_error("exp", 4096) <= FUNCTIONS["exp"].ulp_bound


@pytest.mark.parametrize("name", NAMES)
def test_reference_agrees_with_torch(name: str) -> None:
    """Guard the oracle: every float64 reference against torch in float64."""
    row = FUNCTIONS[name]
    lo, hi = max(row.core[0], -8.0), min(row.core[1], 8.0)
    if name in ("rsqrt", "reciprocal", "log"):
        lo, hi = 1e-3, 8.0
    x = np.linspace(lo, hi, 4001)
    t = torch.from_numpy(x)
    oracle = {
        "exp": torch.exp,
        "tanh": torch.tanh,
        "erf": torch.special.erf,
        "rsqrt": torch.rsqrt,
        "reciprocal": torch.reciprocal,
        "sigmoid": torch.sigmoid,
        "log": torch.log,
        "gelu_erf": lambda v: v * torch.exp(torch.special.log_ndtr(v)),  # ndtr cancels
        "gelu_tanh": lambda v: torch.nn.functional.gelu(v, approximate="tanh"),
        "silu": torch.nn.functional.silu,
    }[name]
    mask = x >= -3.0 if name == "gelu_tanh" else np.ones_like(x, dtype=bool)  # torch cancels
    np.testing.assert_allclose(row.reference(x)[mask], oracle(t).numpy()[mask], rtol=1e-11)


def test_exp_denormal_results_within_one_ulp() -> None:
    x = np.linspace(-103.9, float(fpmath.EXP_LO), 200_001).astype(F32)
    assert ulp_distance(fpmath.exp(x), np.exp(x.astype(np.float64))).max() <= 1


def test_rsqrt_and_log_accurate_on_denormal_inputs() -> None:
    x = (np.arange(1, 1 << 23, 97, dtype=np.uint32)).view(F32)
    x64 = x.astype(np.float64)
    assert ulp_distance(fpmath.rsqrt(x), 1.0 / np.sqrt(x64)).max() <= 1
    assert ulp_distance(fpmath.log(x), np.log(x64)).max() <= 1
    assert ulp_distance(fpmath.reciprocal(x), 1.0 / x64).max() == 0  # inf where 1/x > max


def test_powers_of_two() -> None:
    """1/2^k is exact; rsqrt(4^k) = 2^-k exactly; rsqrt(2^odd) within 1 ulp."""
    k = np.arange(-126, 128)
    p = np.ldexp(1.0, k).astype(F32)
    assert (fpmath.reciprocal(p) == np.ldexp(1.0, -k).astype(F32)).all()
    even = k % 2 == 0
    assert (fpmath.rsqrt(p[even]) == np.ldexp(1.0, -k[even] // 2).astype(F32)).all()
    assert ulp_distance(fpmath.rsqrt(p), 1.0 / np.sqrt(p.astype(np.float64))).max() <= 1
    assert (fpmath.log(p) == F32(0.0)).sum() == 1  # only log(1)


# ---- special values -------------------------------------------------------------------------

INF, NAN = math.inf, math.nan
SPECIALS = {  # name: [(input, expected)] -- expected compared bit-for-bit (NaN by isnan)
    "exp": [(0.0, 1.0), (-0.0, 1.0), (INF, INF), (-INF, 0.0), (89.0, INF), (-104.0, 0.0)],
    "tanh": [(INF, 1.0), (-INF, -1.0), (-0.0, -0.0), (20.0, 1.0), (-MAXF, -1.0), (1e-40, 1e-40)],
    "erf": [(INF, 1.0), (-INF, -1.0), (-0.0, -0.0), (0.0, 0.0), (4.0, 1.0), (-MAXF, -1.0)],
    "rsqrt": [(0.0, INF), (-0.0, -INF), (-1.0, NAN), (INF, 0.0), (4.0, 0.5), (-INF, NAN)],
    "reciprocal": [(0.0, INF), (-0.0, -INF), (INF, 0.0), (-INF, -0.0), (-4.0, -0.25)],
    "sigmoid": [(INF, 1.0), (-INF, 0.0), (0.0, 0.5), (-0.0, 0.5), (MAXF, 1.0), (-MAXF, 0.0)],
    "log": [(1.0, 0.0), (0.0, -INF), (-0.0, -INF), (-1.0, NAN), (INF, INF), (-INF, NAN)],
    "gelu_erf": [(INF, INF), (-INF, -0.0), (0.0, 0.0), (-0.0, -0.0), (MAXF, MAXF), (-20.0, -0.0)],
    "gelu_tanh": [(INF, INF), (-INF, -0.0), (0.0, 0.0), (-0.0, -0.0), (MAXF, MAXF), (-20.0, -0.0)],
    "silu": [(INF, INF), (-INF, -0.0), (0.0, 0.0), (-0.0, -0.0), (MAXF, MAXF), (-200.0, -0.0)],
}


@pytest.mark.parametrize("name", NAMES)
def test_special_values(name: str) -> None:
    cases = SPECIALS[name]
    got = FUNCTIONS[name].fn(f32(*(c[0] for c in cases)))
    want = f32(*(c[1] for c in cases))
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all(), (got, want)
    assert (bits(got)[~nan] == bits(want)[~nan]).all(), (got, want)
    assert (bits(got)[nan] == 0x7FC00000).all()  # created NaNs are the canonical quiet NaN


@pytest.mark.parametrize("name", NAMES)
def test_nan_inputs_pass_through_unchanged(name: str) -> None:
    nans = np.array([0x7FC00000, 0xFFC00000, 0x7FC01234, 0x7F800001], dtype=np.uint32)
    assert (bits(FUNCTIONS[name].fn(nans.view(F32))) == nans).all()


# ---- determinism: same bits regardless of call, batch split, shape or layout ------------------


def _probe_inputs() -> np.ndarray:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1 << 32, 60_000, dtype=np.uint64).astype(np.uint32).view(F32)
    b = rng.uniform(-20, 20, 60_000).astype(F32)
    return np.concatenate([a, b])


@pytest.mark.parametrize("name", NAMES)
def test_same_bits_for_any_split_shape_or_layout(name: str) -> None:
    fn, x = FUNCTIONS[name].fn, _probe_inputs()
    whole = bits(fn(x))
    assert (bits(fn(x)) == whole).all()
    cuts = np.sort(np.random.default_rng(3).choice(x.size, 40, replace=False))
    assert (np.concatenate([bits(fn(c)) for c in np.split(x, cuts)]) == whole).all()
    assert (bits(fn(x.reshape(240, 500))).reshape(-1) == whole).all()
    strided = np.repeat(x, 2)[::2]  # non-contiguous view
    assert (bits(fn(strided)) == whole).all()
    assert all(bits(fn(x[i]))[()] == whole[i] for i in range(0, x.size, 9973))  # 0-d


# Pinned bits: SHA-256 of every function's output on _probe_inputs(). These change only when
# the definition (coefficients or operation order) changes; any host giving other bits is wrong.
# Regenerate with: python -c "import tests.isa.test_fpmath as t; print(t.digests())"
GOLDEN = {
    "erf": "1ae075c9ebfdcf90",
    "exp": "cd123571a1e71b2b",
    "gelu_erf": "d34aa3b228fb60d8",
    "gelu_tanh": "00e3f08f5f17d703",
    "log": "9c83328225827acf",
    "reciprocal": "8be90b70568a2ab8",
    "rsqrt": "f8090e59af6fc221",
    "sigmoid": "9956c75e58fe1300",
    "silu": "91f3f9b6a416be38",
    "tanh": "b34af26c531765c0",
}


def digests() -> dict[str, str]:
    x = _probe_inputs()
    return {n: hashlib.sha256(bits(FUNCTIONS[n].fn(x)).tobytes()).hexdigest()[:16] for n in NAMES}


def test_output_bits_are_pinned() -> None:
    assert digests() == GOLDEN


def test_output_dtype_and_shape() -> None:
    for name in NAMES:
        y = FUNCTIONS[name].fn(np.zeros((3, 0, 2), dtype=F32))
        assert y.dtype == F32 and y.shape == (3, 0, 2)
        assert FUNCTIONS[name].fn(np.float32(0.5)).shape == ()


# ---- no host math and no float64 on the data path --------------------------------------------

DATA_PATH_END = "# ---- float64 references"
FORBIDDEN = {"exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "tanh", "sinh", "cosh",
             "power", "float_power", "float64", "longdouble", "sin", "cos", "erf", "sqrt"}  # fmt: skip


def _data_path_tree() -> ast.Module:
    src = inspect.getsource(fpmath)
    return ast.parse(src[: src.index(DATA_PATH_END)])


def test_data_path_uses_no_host_math() -> None:
    for node in ast.walk(_data_path_tree()):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert node.value.id != "math", ast.unparse(node)
            ok = node.attr not in FORBIDDEN or (node.value.id, node.attr) == ("np", "sqrt")
            assert ok, ast.unparse(node)
        assert not isinstance(node, ast.BinOp) or not isinstance(node.op, ast.Pow)


def test_data_path_float_literals_are_wrapped_in_f32() -> None:
    """A bare Python float next to an array could promote; every float literal must sit inside
    F32(...) (ints only appear in bit manipulation and table indices)."""
    tree = _data_path_tree()
    wrapped = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "F32"
        for arg in ast.walk(node)
    }
    arrays = {  # float literals inside np.array([...], dtype=np.float32) tables are fine too
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and "dtype=np.float32" in ast.unparse(node)
        for sub in ast.walk(node)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            assert id(node) in wrapped | arrays, f"bare float {node.value} on line {node.lineno}"


# ---- strided walk over every binade ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_strided_walk_over_every_binade(name: str) -> None:
    """Every 509th FP32 bit pattern in the whole domain (about 8M points for the all-floats
    ones), so the saturated tails beyond the exhaustively checked ranges are covered too."""
    row, stride = FUNCTIONS[name], 509
    lo = int(fpmath._ordinal(F32(row.lo)))
    hi = int(fpmath._ordinal(F32(row.hi)))
    worst = 0
    for start in range(lo, hi + 1, stride << 20):
        o = np.arange(start, min(start + (stride << 20), hi + 1), stride, dtype=np.int64)
        x = np.where(o < 0, (-o) | (1 << 31), o).astype(np.uint32).view(F32)
        with np.errstate(all="ignore"):
            worst = max(worst, int(ulp_distance(row.fn(x), row.reference(x)).max()))
    assert worst <= row.ulp_bound
