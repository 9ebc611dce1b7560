"""d1c.accuracy: what d1c's numbers are checked against.

- :mod:`~d1c.accuracy.ref64`: the float64 reference of a module, independent of the fp32
  interpreter;
- :mod:`~d1c.accuracy.grid`: each storage format's value grid, from its field widths alone;
- :mod:`~d1c.accuracy.local`: every op of an interpreted module against its own operands;
- :mod:`~d1c.accuracy.bounds` with its rules (``bound_rules``, ``bound_arith``, ``bound_linalg``,
  ``bound_nn``): the a priori error bound of a quantized module against that reference;
- :mod:`~d1c.accuracy.adjoint` with its rules (``adjoint_rules``, ``adjoint_nn``): the a
  posteriori bound along a verified trace, with the network's actual sensitivities;
- :mod:`~d1c.accuracy.checks`: outputs against their references elementwise, and the first op
  giving NaN or infinity where the reference is finite.

:mod:`d1c.ladder` runs them as the verification ladder of ``d1c verify`` (docs/lowering.md §1).
"""
