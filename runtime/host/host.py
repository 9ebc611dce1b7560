"""Host code of a program: generate its LLVM IR, JIT it, and call it on numpy buffers.

``HostCode.of(program)`` builds the layouts of the program's input and output symbols, the LLVM
IR of their pack/unpack functions (:mod:`.codegen`, headed by the launch sequence of
:mod:`.launch`), and compiles it with MCJIT for this host (:func:`d1c.runtime.jit.load`, object
code cached on disk by content hash). ``pack`` and ``unpack`` then take numpy arrays and the
*spans* of a symbol — one ``uint8`` array per placement holding the bytes
``[addr + lo, addr + hi)`` of its window (an empty array for an empty placement) — which is the
hook :func:`d1c.runtime.sim.simulate` calls with SRAM views and HBM copies (``io=``).

A ``.d1x`` keeps the IR text as the blob ``host-ir``. The IR that runs is always the one generated
from the symbol table: a stored blob must equal it (a different blob means the file was edited
or written by another version, and native code with other tables could write outside the
spans), else a :class:`~d1c.isa.errors.DecodeError`.

Large copies are split between threads (``D1C_HOST_THREADS``, default the CPU count) when the
spans of a symbol do not overlap; the JIT code releases the GIL.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from d1c.isa.d1x import D1xProgram, Symbol
from d1c.isa.errors import DecodeError, SimulationError
from d1c.runtime import jit
from d1c.runtime.host.codegen import host_module, pack_name, roundings, unpack_name
from d1c.runtime.host.launch import launch_lines
from d1c.runtime.host.layout import SymbolLayout, program_layouts

BLOB = "host-ir"
PARALLEL_MIN = 1 << 20
"""Elements below which a copy runs on the calling thread only."""
_MASK64 = (1 << 64) - 1
_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_POOL: dict[int, ThreadPoolExecutor] = {}


def host_ir(prog: D1xProgram) -> str:
    """The LLVM IR text of the program's host code (deterministic: same symbols, same text)."""
    layouts = program_layouts(prog.symbols)
    mod = host_module(layouts, name=f"d1c_host_{dict(prog.meta).get('module', 'program')}")
    head = ["; d1c host code: pack inputs into the device layout, unpack outputs", ";"]
    return "\n".join([*head, *launch_lines(prog, layouts), ""]) + str(mod)


def with_host_ir(prog: D1xProgram) -> D1xProgram:
    """``prog`` with its host IR stored as the ``host-ir`` blob (replacing an older one)."""
    blobs = (*tuple(b for b in prog.blobs if b[0] != BLOB), (BLOB, host_ir(prog).encode()))
    return replace(prog, blobs=blobs)


def stored_ir(prog: D1xProgram) -> str | None:
    """The ``host-ir`` blob's text, if the program has one."""
    data = dict(prog.blobs).get(BLOB)
    return None if data is None else data.decode("utf-8", errors="replace")


def sr_key(seed: int, stream: int) -> int:
    """``mix64(mix64(stream) ^ seed)``: the key of the stochastic-rounding stream
    (:func:`d1c.isa.numerics.random_bits`)."""

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    return mix(mix(stream & _MASK64) ^ (seed & _MASK64))


def _threads() -> int:
    env = os.environ.get("D1C_HOST_THREADS", "")
    return max(1, int(env)) if env.isdigit() else max(1, os.cpu_count() or 1)


def _pool(n: int) -> ThreadPoolExecutor:
    if n not in _POOL:
        _POOL[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="d1c-host")
    return _POOL[n]


def _disjoint(lay: SymbolLayout) -> bool:
    """True if no two placement windows of the symbol share a byte (same space and core)."""
    spans = sorted(
        (p.space, p.core or (), p.addr + w[0], p.addr + w[1])
        for p, w in zip(lay.sym.placements, lay.windows, strict=True)
        if w is not None
    )
    return all(a[:2] != b[:2] or a[3] <= b[2] for a, b in itertools.pairwise(spans))


@dataclass
class HostCode:
    """The compiled host code of one program (see the module docstring)."""

    ir: str
    layouts: dict[str, SymbolLayout]
    module: jit.JitModule
    parallel: dict[str, bool] = field(default_factory=dict)
    _fns: dict[str, object] = field(default_factory=dict, repr=False)

    def _fn(self, name: str, nargs: int):
        if name not in self._fns:
            self._fns[name] = self.module.function(name, None, _PTR, _PTR, *[_I64] * nargs)
        return self._fns[name]

    @staticmethod
    def of(prog: D1xProgram) -> HostCode:
        """Generate (and check against the stored blob), JIT and wrap the program's host code."""
        text = host_ir(prog)
        stored = stored_ir(prog)
        if stored is not None and stored != text:
            raise DecodeError(
                "the program's host-ir blob does not match its symbol table "
                "(recompile it with this version of d1c)"
            )
        key = "host-" + hashlib.sha256(text.encode()).hexdigest()
        module = jit.load(key, text, disk_cache=True)
        layouts = {lay.sym.name: lay for lay in program_layouts(prog.symbols)}
        return HostCode(text, layouts, module, {n: _disjoint(x) for n, x in layouts.items()})

    def _layout(self, sym: Symbol, role: str) -> SymbolLayout:
        lay = self.layouts.get(sym.name)
        if lay is None or lay.sym != sym or sym.role != role:
            raise SimulationError(f"the host code has no {role} symbol {sym.name!r} like this one")
        return lay

    def pack(
        self,
        sym: Symbol,
        value: np.ndarray,
        spans: list[np.ndarray],
        *,
        rounding: str = "rne",
        seed: int = 0,
        stream: int = 0,
    ) -> None:
        """Convert ``value`` (shape ``sym.shape``) and scatter it into ``spans``."""
        lay = self._layout(sym, "input")
        src = _source(sym, value)
        if rounding not in ("rne", "sr"):
            raise SimulationError(f"rounding must be 'rne' or 'sr', got {rounding!r}")
        mode = rounding if rounding in roundings(lay) else "rne"
        key = ctypes.c_int64(sr_key(seed, stream)).value
        fns = [self._fn(pack_name(lay.index, k, mode), 5) for k in range(len(lay.nests))]
        parallel = self.parallel[sym.name]
        self._run(lay, spans, src, [lambda *a, f=f: f(*a, key) for f in fns], parallel)

    def unpack(self, sym: Symbol, spans: list[np.ndarray]) -> np.ndarray:
        """Gather an output's codes from ``spans`` as float32 values (int32 for i32)."""
        lay = self._layout(sym, "output")
        out = np.zeros(tuple(sym.shape), dtype=np.int32 if sym.fmt == "i32" else np.float32)
        fns = [self._fn(unpack_name(lay.index, k), 4) for k in range(len(lay.nests))]
        single = sum(map(len, lay.members)) == 1  # later placements win: keep their order
        self._run(lay, spans, out, fns, single)
        return out

    def _run(self, lay, spans, data, fns, parallel: bool) -> None:
        tables = _span_tables(lay, spans)
        ptr = data.ctypes.data
        threads = _threads() if parallel else 1
        for run in lay.runs:
            nest, table = lay.nests[run.nest], tables[run.nest]
            calls = _split(run, nest.outer, nest.size, threads)
            args = [(ptr, table.ctypes.data, j0, j1, o0, o1) for j0, j1, o0, o1 in calls]
            if len(args) == 1:
                fns[run.nest](*args[0])
            else:
                list(_pool(threads).map(lambda a, f=fns[run.nest]: f(*a), args))


def _source(sym: Symbol, value: np.ndarray) -> np.ndarray:
    """The dense C-order int32 (i32 symbols) or float32 array the pack functions read."""
    arr = np.asarray(value)
    if tuple(arr.shape) != tuple(sym.shape):
        raise SimulationError(
            f"input {sym.name!r} has shape {tuple(arr.shape)}, the program expects {tuple(sym.shape)}"
        )
    if sym.fmt == "i32":
        if arr.dtype.kind not in "iub":
            raise SimulationError(f"input {sym.name!r} is i32 and needs integers, got {arr.dtype}")
        return np.ascontiguousarray(arr.astype(np.int32, copy=False))
    if arr.dtype.kind not in "fiub":
        raise SimulationError(f"input {sym.name!r} needs numbers, got {arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(arr.astype(np.float32, copy=False))


def _span_tables(lay: SymbolLayout, spans: list[np.ndarray]) -> list[np.ndarray]:
    """Per nest, the span addresses of its placements (checked: uint8, contiguous, full size)."""
    if len(spans) != len(lay.sym.placements):
        raise SimulationError(
            f"symbol {lay.sym.name!r} has {len(lay.sym.placements)} placements, got {len(spans)} spans"
        )
    for i, (span, win) in enumerate(zip(spans, lay.windows, strict=True)):
        need = 0 if win is None else win[1] - win[0]
        ok = span.dtype == np.uint8 and span.ndim == 1 and span.flags.c_contiguous
        if win is not None and not (ok and span.size == need and span.flags.writeable):
            raise SimulationError(
                f"span {i} of {lay.sym.name!r} must be {need} writable contiguous bytes"
            )
    return [
        np.array([spans[i].ctypes.data for i in members], dtype=np.uint64)
        for members in lay.members
    ]


def _split(run, outer: int, size: int, threads: int) -> list[tuple[int, int, int, int]]:
    """(j0, j1, o0, o1) calls covering a run: by placements, else by outer rows, else one."""
    count = run.last - run.first
    if threads == 1 or count * size < PARALLEL_MIN:
        return [(run.first, run.last, 0, outer)]
    if count >= threads:
        cuts = np.linspace(run.first, run.last, threads + 1).astype(int)
        return [(a, b, 0, outer) for a, b in itertools.pairwise(cuts) if b > a]
    cuts = np.linspace(0, outer, threads + 1).astype(int)
    return [
        (j, j + 1, a, b)
        for j in range(run.first, run.last)
        for a, b in itertools.pairwise(cuts)
        if b > a
    ]
