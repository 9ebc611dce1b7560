"""d1c next to Apache TVM compiling the same models for the host CPU (optional: needs
``apache-tvm`` from PyPI; without it this script says so and exits 0).

Usage: ``python benchmarks/tvm_compare.py [--target dojo-tile] [--repeat 3] [--examples mlp,cnn]``

Both compilers start from the same ``torch.export`` program of each example (exported once,
not timed). Per example:

- ``tvm compile``: :func:`tvm.relax.frontend.torch.from_exported_program` plus
  ``tvm.compile(mod, target="llvm")`` (the default Relax pipeline, no tuning) for this host;
- ``tvm run``: one inference in TVM's Relax VM on this host's CPU (outputs checked against torch
  eager within 1e-4 of their scale, or the row says ``wrong``), and ``torch run`` for context;
- ``d1c compile``: graph IR import, the pass pipelines and emission of the ``.d1x`` for
  ``--target``; ``d1c device``: the simulated time of one inference at the target's clock;
- ratios: ``compile d1c/tvm``, ``tvm/torch`` host run times, and ``host/device`` = TVM's host
  run time over d1c's simulated device time (how much faster the simulated machine is than this
  CPU under TVM; the two run different numerics: fp32 on the host, bf16 storage on the device).

A model TVM's frontend cannot import is reported with its error instead of figures. One untimed
warm-up compile of ``mlp`` by both first keeps one-time imports out of the first row.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from bench_common import EXAMPLES, best_seconds, each, example_path, table

from d1c.target import DEFAULT_TARGET


def tvm_available() -> str | None:
    """None if TVM's Relax torch frontend imports, else the reason it does not."""
    try:
        import tvm  # noqa: F401
        from tvm.relax.frontend.torch import from_exported_program  # noqa: F401
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return None


def export(model, inputs):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(model.eval(), tuple(inputs), strict=False)


def tvm_build(ep):
    import tvm
    from tvm.relax.frontend.torch import from_exported_program

    return tvm.compile(from_exported_program(ep, keep_params_as_input=False), target="llvm")


def tvm_runner(ex, inputs):
    import tvm
    from tvm import relax

    dev = tvm.cpu()
    vm = relax.VirtualMachine(ex, dev)
    args = [tvm.runtime.tensor(x.detach().numpy(), dev) for x in inputs]
    return lambda: vm["main"](*args)


def _first(out) -> np.ndarray:
    return out.numpy() if hasattr(out, "numpy") else out[0].numpy()


def d1c_compile(ep, name: str, target: str, inputs):
    """(seconds, program) of d1c from the exported program to the .d1x."""
    from d1c import driver
    from d1c.frontend.importer import import_program

    arrays = tuple(x.detach().numpy() for x in inputs)
    t = time.perf_counter()
    module = import_program(ep.run_decompositions(), name=name)
    opts = driver.Options(target, "bf16", arrays)
    prog = driver.build(driver.compile_stages(module, "placed", opts)["placed"], opts)
    return time.perf_counter() - t, prog


def measure(name: str, target: str, repeat: int) -> list[object]:
    import torch

    from d1c.frontend import load_model
    from d1c.runtime.sim import simulate

    model, inputs = load_model(example_path(name))
    t_d1c, prog = d1c_compile(export(model, inputs), name, target, inputs)
    device = simulate(prog, target, None, timing_only=True).seconds
    with torch.no_grad():
        t_torch, ref = best_seconds(lambda: model(*inputs), repeat)
    ref = (ref[0] if isinstance(ref, tuple | list) else ref).numpy()
    ep = export(model, inputs)
    try:
        t_tvm, ex = best_seconds(lambda: tvm_build(ep), 1)
    except Exception as err:
        return [name, f"tvm failed: {type(err).__name__}: {str(err)[:60]}"]
    run = tvm_runner(ex, inputs)
    t_run, out = best_seconds(run, repeat)
    ok = np.allclose(_first(out), ref, atol=1e-4 * max(float(np.abs(ref).max()), 1.0))
    return [name, t_tvm, t_d1c, t_d1c / t_tvm, t_run if ok else "wrong", t_torch, t_run / t_torch,
            device, t_run / device]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=DEFAULT_TARGET)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    args = ap.parse_args(argv)
    why = tvm_available()
    if why is not None:
        print(f"Apache TVM is not available here ({why}); install apache-tvm to compare. Skipped.")
        return 0
    import tvm

    print(f"TVM {tvm.__version__} (llvm, host CPU, default pipeline) vs d1c for {args.target}; "
          f"seconds, runs best of {args.repeat}")  # fmt: skip
    measure("mlp", args.target, 1)  # warm-up: one-time imports and JIT set-up of both compilers
    rows = [
        measure(n, args.target, args.repeat) for n in each(args.examples.split(","), "tvm_compare")
    ]
    full = [r for r in rows if len(r) > 2]
    head = ["example", "tvm compile", "d1c compile", "compile d1c/tvm", "tvm run", "torch run",
            "tvm/torch", "d1c device", "host/device"]  # fmt: skip
    print(table(head, full))
    for r in rows:
        if len(r) == 2:
            print(f"{r[0]}: {r[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
