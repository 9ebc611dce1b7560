"""d1c.passes: the pass registry, the pass manager, the rewrite driver and the passes.

Importing this package registers every pass in :data:`PASSES`.
"""

from d1c.passes import (  # noqa: F401  (importing a pass module registers its pass)
    allocate_sram,
    assign_formats,
    canonicalize,
    decompose,
    fold_batchnorm,
    fold_constants,
    fuse,
    fuse_windows,
    place,
    route,
    schedule,
    tile,
)
from d1c.passes.pass_manager import (
    PASSES,
    Context,
    Pass,
    PassManager,
    parse_pipeline,
    pass_spec,
    register_pass,
    run_pipeline,
)
from d1c.passes.pipelines import GRAPH_PIPELINE

__all__ = [
    "GRAPH_PIPELINE",
    "PASSES",
    "Context",
    "Pass",
    "PassManager",
    "parse_pipeline",
    "pass_spec",
    "register_pass",
    "run_pipeline",
]
