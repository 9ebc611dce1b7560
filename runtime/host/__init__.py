"""Host code: LLVM IR (llvmlite) that packs user tensors into a program's device layout and
unpacks its outputs, JIT-compiled for this CPU and cached on disk (docs/design.md §1).

- :class:`HostCode` (``HostCode.of(program)``): ``pack(sym, value, spans)``,
  ``unpack(sym, spans)``; the ``io=`` hook of :func:`d1c.runtime.sim.simulate`.
- :func:`host_ir`, :func:`with_host_ir`, :func:`stored_ir`: the IR text and the ``host-ir`` blob.
- :mod:`.reference`: the pure-numpy packer with the same contract (the oracle of the tests).
"""

from d1c.runtime.host.host import BLOB, HostCode, host_ir, sr_key, stored_ir, with_host_ir
from d1c.runtime.host.reference import new_spans, pack_reference, unpack_reference

__all__ = [
    "BLOB",
    "HostCode",
    "host_ir",
    "new_spans",
    "pack_reference",
    "sr_key",
    "stored_ir",
    "unpack_reference",
    "with_host_ir",
]
