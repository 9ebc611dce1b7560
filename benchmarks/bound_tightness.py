"""How tight the verification ladder's error bounds are (issue 12): for every example, a
DistilBERT-style block and ResNet-18 (tests/), per storage dtype and output, the largest observed
error of the interpreted quantized IR against the float64 reference, the largest rung-2 bound
(the smaller of the a priori and the a posteriori bound) and the largest a priori bound alone,
as ratios to the observed error. The goal is a rung-2 bound at most 100x the observed error.

    python benchmarks/bound_tightness.py [MODEL ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    *(str(p) for p in sorted((ROOT / "examples").glob("*.py"))),
    str(ROOT / "tests" / "accuracy" / "resnet18.py"),
]


def main() -> None:
    from d1c import driver
    from d1c.ladder import tightness

    print(f"{'model':<14} {'dtype':<5} {'out':<4} {'max error':>10} {'bound':>10} {'x error':>8} "
          f"{'a priori':>10} {'x error':>10} {'seconds':>8}", flush=True)  # fmt: skip
    for spec in sys.argv[1:] or MODELS:
        src = driver.load_source(spec)
        for dtype in ("bf16", "cfp8"):
            start = time.perf_counter()
            rows = tightness(src.module, src.inputs, dtype)
            took = time.perf_counter() - start
            for i, (err, bound, prior) in enumerate(rows):
                print(f"{Path(spec).stem:<14} {dtype:<5} {i:<4} {err:>10.3g} {bound:>10.3g} "
                      f"{bound / err:>8.3g} {prior:>10.3g} {prior / err:>10.3g} {took:>8.1f}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
