"""Named pipelines: the default stages of the compiler as readable lists of pass names."""

from __future__ import annotations

# Graph-level clean-up after the frontend: canonicalize exposes conv -> batch_norm pairs (dead
# views and duplicates removed), fold-batchnorm folds them, canonicalize removes what folding left.
GRAPH_PIPELINE = "canonicalize,fold-batchnorm,canonicalize"
