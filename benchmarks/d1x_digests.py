"""Print a SHA-256 digest of the ``.d1x`` program of every example, compiled for ``mini`` and
``dojo-tile`` in bf16 and cfp8.

A refactoring that must not change what the compiler emits compares this output before and after
(``python benchmarks/d1x_digests.py > before.txt``, change, run again, ``diff``). Each program is
compiled in a fresh ``d1c compile`` process so that no state is shared between them.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".py", ".d1"))
TARGETS = ("mini", "dojo-tile")
DTYPES = ("bf16", "cfp8")


def digest(example: Path, target: str, dtype: str, workdir: Path) -> str:
    out = workdir / f"{example.stem}-{target}-{dtype}.d1x"
    cmd = [sys.executable, "-m", "d1c", "compile", str(example.relative_to(ROOT))]
    cmd += ["--target", target, "--dtype", dtype, "-o", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        return f"FAILED ({run.stderr.strip().splitlines()[-1] if run.stderr else run.returncode})"
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", nargs="*", help="example file names (default: all)")
    args = ap.parse_args()
    chosen = [e for e in EXAMPLES if not args.examples or e.name in args.examples]
    with tempfile.TemporaryDirectory() as tmp:
        for example in chosen:
            for target in TARGETS:
                for dtype in DTYPES:
                    d = digest(example, target, dtype, Path(tmp))
                    print(f"{example.name:16} {target:10} {dtype:5} {d}", flush=True)


if __name__ == "__main__":
    main()
