"""A small llvmlite JIT: compile an LLVM IR module for the host once, return ctypes functions.

Used by :mod:`d1c.runtime.kernels` (bit-exact matrix kernels) and meant for any later host code
that wants native loops. Rules that keep results bit-identical to the numpy semantics functions:

- The target machine is fresh per engine and uses the host CPU name and features, so LLVM may use
  every vector unit of this host, but the IR carries no fast-math flags and the target's default
  FP-op fusion ("standard": only ``llvm.fmuladd`` may fuse), so a plain ``fmul`` followed by an
  ``fadd`` is never contracted into an FMA. JIT code runs in the caller's FP environment (MXCSR on
  x86); a kernel that must not flush denormals switches it itself (see :mod:`kernels_ir`).
- llvmlite 0.50: ``llvm.initialize()`` is gone; only the native target and asm printer are
  initialised. The module is optimised with the new pass manager (``create_pass_builder``).

Engines are cached per ``key`` for the life of the process (the engine owns the machine code,
so it must stay alive while any ctypes function from it may be called). Compilation holds a lock,
so two threads asking for the same key compile it once.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from d1c.isa.errors import CompileError

_LOCK = threading.Lock()
_CACHE: dict[str, JitModule] = {}
_STATE: dict[str, object] = {}


@dataclass(frozen=True, slots=True)
class JitModule:
    """A compiled module: the engine that owns its code and the optimised IR text."""

    key: str
    engine: object
    ir: str

    def address(self, name: str) -> int:
        """The address of function ``name``; CompileError if the module does not define it."""
        addr = self.engine.get_function_address(name)
        if not addr:
            raise CompileError(f"JIT module {self.key!r} has no function {name!r}")
        return addr

    def function(self, name: str, restype: object, *argtypes: object) -> Callable[..., object]:
        """Function ``name`` as a ctypes callable with the given C signature."""
        return ctypes.CFUNCTYPE(restype, *argtypes)(self.address(name))

    def assembly(self) -> str:
        """The host assembly of the optimised module (for tests that inspect the code)."""
        llvm = _llvm()
        mod = llvm.parse_assembly(self.ir)
        return host_target_machine().emit_assembly(mod)


def _llvm() -> Any:
    """llvmlite.binding with the native target initialised (once per process)."""
    import llvmlite.binding as llvm

    if not _STATE.get("init"):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _STATE["init"] = True
    return llvm


def host_cpu() -> tuple[str, str]:
    """(CPU name, feature string) of this host as LLVM names them."""
    llvm = _llvm()
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def host_triple() -> str:
    """The LLVM target triple of this process (``x86_64-unknown-linux-gnu``, ...)."""
    return _llvm().get_process_triple()


def host_features() -> frozenset[str]:
    """The CPU features this host has (``"avx512f"``, ``"avx2"``, ... without the ``+``)."""
    _, flat = host_cpu()
    return frozenset(f[1:] for f in flat.split(",") if f.startswith("+"))


def host_target_machine(opt: int = 3) -> object:
    """A fresh target machine for the host CPU (name and features), for JIT code."""
    llvm = _llvm()
    cpu, features = host_cpu()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=cpu, features=features, opt=opt, jit=True)


def _optimise(mod: object, tm: object, opt: int) -> None:
    llvm = _llvm()
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


def _compile(key: str, ir_text: str, opt: int) -> JitModule:
    llvm = _llvm()
    tm = host_target_machine(opt)
    mod = llvm.parse_assembly(ir_text)
    mod.triple = llvm.get_process_triple()
    mod.data_layout = str(tm.target_data)
    mod.verify()
    _optimise(mod, tm, opt)
    optimised = str(mod)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    engine.run_static_constructors()
    return JitModule(key, engine, optimised)


def load(key: str, ir: str | Callable[[], str], opt: int = 3) -> JitModule:
    """The module cached under ``key``, compiled from ``ir`` (text, or a function making it) once.

    Raises CompileError if llvmlite is missing or rejects the IR (the message says why).
    """
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        try:
            text = ir() if callable(ir) else ir
            module = _compile(key, text, opt)
        except CompileError:
            raise
        except Exception as exc:  # llvmlite raises RuntimeError/ImportError/OSError
            raise CompileError(f"JIT compile of {key!r} failed: {exc}") from exc
        _CACHE[key] = module
        return module
