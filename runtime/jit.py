"""A small llvmlite JIT: compile an LLVM IR module for the host once, return ctypes functions.

Used by :mod:`d1c.runtime.native_mma` (bit-exact matrix kernels) and meant for any later host code
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

On-disk cache (``load(..., disk_cache=True)``): the object code MCJIT produces is stored under
:func:`cache_dir` (``$XDG_CACHE_HOME/d1c``, default ``~/.cache/d1c``) in a file named by the
sha256 of the IR text, the host CPU name and features, the optimisation level and the llvmlite
version, so a changed module or another host never reuses it. A hit skips the optimiser and code
generation (llvmlite's object cache hands the bytes to MCJIT). Files carry a checksum of the
object; a damaged or unreadable file is ignored and recompiled, and an unwritable directory only
costs the compile time.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d1c.isa.errors import CompileError

_LOCK = threading.Lock()
_CACHE: dict[str, JitModule] = {}
_STATE: dict[str, object] = {}
OBJ_MAGIC = b"D1CO"
STATS = {"disk_hits": 0, "disk_writes": 0}
"""Counters of the on-disk cache (for tests and ``--time-passes``-style reports)."""


@dataclass(frozen=True, slots=True)
class JitModule:
    """A compiled module: the engine that owns its code and its IR text (optimised, unless the
    object came from the disk cache)."""

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


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/d1c`` (default ``~/.cache/d1c``): where compiled objects are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "d1c"


def _object_path(ir_text: str, opt: int) -> Path:
    import llvmlite

    cpu, features = host_cpu()
    h = hashlib.sha256()
    for part in (ir_text, cpu, features, str(opt), llvmlite.__version__, host_triple()):
        h.update(part.encode() + b"\0")
    return cache_dir() / "jit" / f"{h.hexdigest()}.o"


def _read_object(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    body = data[36:]
    if data[:4] != OBJ_MAGIC or hashlib.sha256(body).digest() != data[4:36]:
        return None
    return body


def _write_object(path: Path, obj: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(OBJ_MAGIC + hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, path)
        STATS["disk_writes"] += 1
    except OSError:
        pass  # an unwritable cache only costs compile time


def _compile(key: str, ir_text: str, opt: int, disk_cache: bool = False) -> JitModule:
    llvm = _llvm()
    tm = host_target_machine(opt)
    mod = llvm.parse_assembly(ir_text)
    mod.triple = llvm.get_process_triple()
    mod.data_layout = str(tm.target_data)
    mod.verify()
    path = _object_path(ir_text, opt) if disk_cache else None
    cached = _read_object(path) if path is not None else None
    if cached is None:
        _optimise(mod, tm, opt)
    else:
        STATS["disk_hits"] += 1
    text = str(mod)
    engine = llvm.create_mcjit_compiler(mod, tm)
    if path is not None:
        engine.set_object_cache(
            lambda _m, obj: _write_object(path, bytes(obj)) if cached is None else None,
            lambda _m: cached,
        )
    engine.finalize_object()
    engine.run_static_constructors()
    return JitModule(key, engine, text)


def load(
    key: str, ir: str | Callable[[], str], opt: int = 3, *, disk_cache: bool = False
) -> JitModule:
    """The module cached under ``key``, compiled from ``ir`` (text, or a function making it) once;
    with ``disk_cache`` the object code is also kept on disk across processes (see above).

    Raises CompileError if llvmlite is missing or rejects the IR (the message says why).
    """
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        try:
            text = ir() if callable(ir) else ir
            module = _compile(key, text, opt, disk_cache)
        except CompileError:
            raise
        except Exception as exc:  # llvmlite raises RuntimeError/ImportError/OSError
            raise CompileError(f"JIT compile of {key!r} failed: {exc}") from exc
        _CACHE[key] = module
        return module
