"""d1c.accuracy: what d1c's numbers are checked against.

- :mod:`~d1c.accuracy.ref64`: the float64 reference of a module, independent of the fp32
  interpreter;
- :mod:`~d1c.accuracy.bounds` with its rules (``bound_rules``, ``bound_arith``, ``bound_linalg``,
  ``bound_nn``): the derived error bound of a quantized module against that reference;
- :mod:`~d1c.ladder`: the verification ladder that ``d1c verify`` runs
  (docs/design.md §5).
"""
