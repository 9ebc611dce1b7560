"""Helpers shared by the simulator tests: assemble-and-run, one-core programs, references."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np

from d1c.isa.asm import assemble
from d1c.runtime.sim import SimResult, simulate
from d1c.target import load_target

PROGRAMS = Path(__file__).resolve().parent / "programs"
ROOT = Path(__file__).resolve().parents[2]
MINI = load_target("mini")


def program(name_or_text: str):
    """Assemble ``programs/NAME.s`` or an inline assembly text."""
    path = PROGRAMS / f"{name_or_text}.s"
    if "\n" not in name_or_text and path.exists():
        return assemble(path.read_text(), file=str(path))
    return assemble(name_or_text)


def run(name_or_text: str, inputs: dict | None = None, **kw) -> SimResult:
    """Assemble and simulate on the program's own target."""
    return simulate(program(name_or_text), None, inputs, **kw)


def one_core(body: str, symbols: str = "", target: str = "mini", core: str = "0.0.0.0") -> str:
    """Assembly text of a one-section program on ``core`` with extra symbol directives."""
    return f'.target "{target}"\n.code main, {core}\n{body}\n{symbols}\n'


def bf16(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to bf16 (ml_dtypes, RNE) and back to float32."""
    return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


def bits(x: np.ndarray) -> np.ndarray:
    """The uint32 bit patterns of a float32 array (for bit-exact comparisons)."""
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def wide_range(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random float32 values over many binades, so the order of fp32 additions shows in the bits."""
    mant = rng.uniform(-1.0, 1.0, size=shape)
    return (mant * np.exp2(rng.integers(-12, 12, size=shape))).astype(np.float32)
