"""Random instruction streams on two cores: the simulator either finishes or raises a
SimulationError naming a fault it checks for (never an internal error or another exception), and
timing-only mode ends the same way with the same cycles."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.isa import encoding, spec
from d1c.isa.d1x import CodeSection, CoreRange, D1xProgram
from d1c.isa.errors import SimulationError
from d1c.isa.spec import Inst, field_range
from d1c.runtime.sim import simulate

_SMALL = {"off": (-6, 6), "simm": (-8, 300), "uimm": (0, 40), "xreg": (0, 5), "treg": (0, 3)}
_FMTS = (0, 1, 3)  # fp32, bf16, cfp8_143


def _operand(rng: np.random.Generator, f: spec.Field) -> int:
    if f.kind == "enum":
        return int(rng.choice(list(spec.ENUMS[f.enum].values())))
    lo, hi = field_range(f)
    if f.kind in _SMALL and rng.random() < 0.8:
        lo, hi = max(lo, _SMALL[f.kind][0]), min(hi, _SMALL[f.kind][1])
    return int(rng.integers(lo, hi + 1))


def _stream(rng: np.random.Generator, n: int) -> list[Inst]:
    out = []
    for t in range(4):  # four 4x4 tiles at distinct addresses, so tile ops get past shape checks
        fmt = int(rng.choice(_FMTS))
        out += [
            Inst("tbase", (t, 0, 256 * t)),
            Inst("tshapei", (t, 4, 4)),
            Inst("tfmt", (t, fmt, 10)),
        ]
    for _ in range(n):
        row = spec.ROWS[int(rng.integers(len(spec.ROWS)))]
        out.append(Inst(row.name, tuple(_operand(rng, f) for f in row.fields)))
    return [*out, Inst("halt", ())]


def _outcome(prog: D1xProgram, timing_only: bool) -> tuple[str, object]:
    try:
        return "ok", simulate(prog, timing_only=timing_only, max_cycles=3000).cycles
    except SimulationError as err:
        assert "internal simulator error" not in err.message, err.message
        return "fault", err.message.split(" at cycle ")[0] + err.message.split(":", 3)[-1]


@pytest.mark.parametrize("seed", range(6))
def test_random_programs_fault_cleanly_and_modes_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        sections = tuple(
            CodeSection(
                f"c{x}", (CoreRange.single((0, 0, x, 0)),), encoding.encode_words(_stream(rng, 12))
            )
            for x in (0, 1)
        )
        prog = D1xProgram("mini", sections)
        assert _outcome(prog, False) == _outcome(prog, True)
