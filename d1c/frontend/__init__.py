"""The torch.export frontend: user model files and exported programs -> graph IR.

``import_model("examples/mlp.py")`` loads, exports and imports a MODEL spec;
``export_model(model, inputs)`` and ``import_program(ep)`` are the steps; ``coverage(spec)`` is the
op table of ``d1c coverage``. Lowerings live per op family in ``elementwise``, ``reductions``,
``layout``, ``nn`` and ``creation``, registered in ``common.LOWERINGS``.
"""

from d1c.frontend.common import LOWERINGS, register_lowering
from d1c.frontend.coverage import coverage_rows, coverage_table
from d1c.frontend.importer import import_program, lower_program
from d1c.frontend.loader import (
    coverage,
    export_model,
    export_program,
    import_model,
    load_model,
    split_spec,
)

__all__ = [
    "LOWERINGS",
    "coverage",
    "coverage_rows",
    "coverage_table",
    "export_model",
    "export_program",
    "import_model",
    "import_program",
    "load_model",
    "lower_program",
    "register_lowering",
    "split_spec",
]
