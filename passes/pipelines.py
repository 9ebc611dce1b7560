"""The compiler's stages, each a readable pipeline of passes (docs/lowering.md): the one table the
driver runs and the tests use.

- graph: canonicalize exposes conv -> batch_norm pairs (dead views and duplicates removed),
  fold-batchnorm folds them, canonicalize removes what folding left;
- quantized: storage formats (``{dtype}`` is the storage dtype, bf16 or cfp8) and explicit casts;
- tiled: primitive ops with an explicit order, tiles, fused epilogues, matmul operand windows;
- placed: cores and HBM addresses, double buffering, routes, the SRAM proof.
"""

from __future__ import annotations

STAGES: dict[str, str] = {
    "graph": "canonicalize,fold-batchnorm,canonicalize",
    "quantized": "assign-formats{{dtype={dtype}}}",
    "tiled": "decompose,canonicalize,tile,fuse,fuse-windows",
    "placed": "place,schedule,route,allocate-sram",
}
GRAPH_PIPELINE = STAGES["graph"]


def stage_pipeline(stage: str, dtype: str, rounding: str = "rne") -> str:
    """The pipeline of ``stage`` for storage dtype ``dtype`` (``rounding``: of the storage
    converts, ``sr`` for stochastic rounding, which only the interpreter runs inside kernels)."""
    text = STAGES[stage].format(dtype=dtype)
    return (
        text.replace("}", f",rounding={rounding}}}")
        if stage == "quantized" and rounding != "rne"
        else text
    )
