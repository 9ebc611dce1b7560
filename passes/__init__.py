"""d1c.passes: the pass registry, the pass manager, the rewrite driver and the passes.

Importing this package registers every pass in :data:`PASSES`.
"""

from d1c.passes import canonicalize, fold_batchnorm, place, tile  # noqa: F401  (registers the passes)
from d1c.passes import decompose, fold_constants  # noqa: F401  (registers the passes)
from d1c.passes import assign_formats  # noqa: F401  (registers the pass)
from d1c.passes import allocate_sram, route  # noqa: F401  (registers the passes)
from d1c.passes import fuse, schedule  # noqa: F401  (registers the passes)
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
