"""The d1c error hierarchy (defined in :mod:`d1c.isa.errors`, the bottom layer)."""

from d1c.isa.errors import (
    AccuracyError,
    CompileError,
    D1cError,
    DecodeError,
    InternalError,
    Loc,
    ParseError,
    SimulationError,
    UnsupportedError,
    VerifyError,
    did_you_mean,
)

__all__ = [
    "AccuracyError",
    "CompileError",
    "D1cError",
    "DecodeError",
    "InternalError",
    "Loc",
    "ParseError",
    "SimulationError",
    "UnsupportedError",
    "VerifyError",
    "did_you_mean",
]
