"""d1c.codegen: the backend, from placed IR to a ``.d1x`` program (docs/lowering.md §3-5).

Kernel planning is shared with the passes that decide and check it (``tile``, ``fuse``,
``place``, ``schedule``, ``route``, ``allocate-sram``); nothing here imports :mod:`d1c.passes`.

- :mod:`~d1c.codegen.kinds`: how each op of placed IR runs (kernel kind, device formats);
- :mod:`~d1c.codegen.views`: affine views of HBM tensors and the DMA descriptors of their tiles;
- :mod:`~d1c.codegen.plan`: per-op kernel plans (which core computes which tile, DMA and tile
  descriptors); :mod:`~d1c.codegen.systolic`, :mod:`~d1c.codegen.data_kernels` and
  :mod:`~d1c.codegen.epilogue` plan systolic matmuls, data kernels and fused epilogues;
- :mod:`~d1c.codegen.program`: the plans of a whole placed function and its cores;
- :mod:`~d1c.codegen.isel` (and ``isel_pipelined``): the SPMD code of each kernel kind;
- :mod:`~d1c.codegen.emit`: the ``.d1x`` program (code, work lists, images, symbols).
"""
