"""Implicit-GEMM convolution through operand windows (``fuse-windows``, codegen/windows.py).

- gather descriptors executed on a byte array give exactly the tile of element offsets;
- random convolutions (channels and spatial sizes that do not divide the tiles, padding,
  strides, dilation, bf16 and cfp8): the simulator matches the interpreter bit for bit, within
  the error bound of torch eager; at stride 1 with output rows of MIN_RUN or more, no im2col
  kernel runs (no slice or concat) and bias, batch norm and ReLU run in the matmul's epilogue.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from d1c import driver
from d1c.codegen.kinds import returned_values
from d1c.codegen.plan import kind_of
from d1c.codegen.windows import gather_segments
from d1c.frontend import export_model
from d1c.ladder import verify_module
from d1c.passes.fuse_windows import MIN_RUN

ES = 2


def _run(descs, hbm: np.ndarray, nbytes: int) -> np.ndarray:
    """Execute HBM -> SRAM descriptors into a fresh SRAM byte array."""
    sram = np.full(nbytes, 0xEE, dtype=np.uint8)
    for d in descs:
        for r in range(d.rows):
            src, dst = d.hbm + r * d.hbm_stride, d.sram + r * d.sram_stride
            sram[dst : dst + d.row_bytes] = hbm[src : src + d.row_bytes]
    return sram


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 9),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(0, 3),
    st.data(),
)
def test_gather_descriptors_load_exactly_the_tile(r, c, w, step, gap, data) -> None:
    """Offsets of a strided 2-D window (rows of pieces ``w`` wide, ``gap`` apart) shuffled by
    row: every element lands in its dense tile position."""
    cols = np.concatenate([np.arange(c) * step + (np.arange(c) // w) * gap])
    rows = np.array(data.draw(st.permutations(range(r)))) * (cols[-1] + 7)
    offsets = rows[:, None] + cols[None, :]
    hbm = np.arange(offsets.max() + 1, dtype="<u2").view(np.uint8)
    descs = gather_segments(offsets, 0, ES, 0)
    got = _run(descs, hbm, r * c * ES).view("<u2").reshape(r, c)
    np.testing.assert_array_equal(got, offsets)
    if step == 1 and gap == 0:
        assert len(descs) <= r  # contiguous rows: one descriptor per run of rows at most


def _kernels(placed) -> list[str]:
    returned = returned_values(placed.main)
    return [op.name for op in placed.main.ops[:-1] if kind_of(op, returned) not in
            ("host_in", "host_out", "data", "alias", "fused", "window")]  # fmt: skip


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cin=st.integers(1, 19),
    cout=st.integers(1, 21),
    k=st.sampled_from([(1, 1), (3, 3), (2, 3), (5, 5)]),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    dilation=st.integers(1, 2),
    hw=st.tuples(st.integers(5, 13), st.integers(5, 13)),
    batch=st.integers(1, 3),
    dtype=st.sampled_from(["bf16", "cfp8"]),
    target=st.sampled_from(["mini", "dojo-tile"]),
)
def test_random_convolutions_read_their_windows_bit_exactly(
    cin, cout, k, stride, pad, dilation, hw, batch, dtype, target
) -> None:
    assume(all(n + 2 * pad > dilation * (kk - 1) for n, kk in zip(hw, k, strict=True)))
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation)
    model = nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU()).eval()
    x = torch.randn(batch, cin, *hw)
    graph = export_model(model, (x,))
    opts = driver.Options(target, dtype, (x.numpy(),))
    placed = driver.compile_stages(graph, "placed", opts)["placed"]
    kernels = _kernels(placed)
    ow = placed.main.outputs[0].type.shape[-1]
    if stride == 1 and ow >= MIN_RUN:  # a window of whole output rows (else element pieces)
        assert "concat" not in kernels and "slice" not in kernels, kernels  # no im2col
        assert set(kernels) <= {"pad", "matmul", "full"}, kernels  # bias, batch norm, ReLU fused
    (eager,) = driver.eager_outputs(model, (x,))
    report = verify_module(graph, [x.numpy()], target, dtype, reference=[eager])
    assert report.ok and report.outputs[0].bit_exact, report.render()
