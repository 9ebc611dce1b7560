"""The on-disk JIT object cache: written under $XDG_CACHE_HOME/d1c, reused (same bits) by a
fresh engine, a damaged file is recompiled; the host-ir blob must match the symbol table."""

from __future__ import annotations

import numpy as np
import pytest

from d1c.isa.d1x import D1xProgram
from d1c.isa.errors import DecodeError
from d1c.runtime import jit
from d1c.runtime.host import HostCode, host_ir, new_spans, pack_reference, with_host_ir
from tests.runtime.host.host_cases import symbol, values


def _program(bias: int) -> D1xProgram:
    return D1xProgram("mini", symbols=(symbol("x", "input", "cfp8_152", bias, "tiled"),))


def _forget(host: HostCode) -> None:
    """Drop the in-process engine so the next HostCode.of goes to the disk cache."""
    jit._CACHE.pop(host.module.key)


def _packs_like_reference(host: HostCode) -> bool:
    sym = host.layouts["x"].sym
    got, want = new_spans(sym), new_spans(sym)
    host.pack(sym, values(5), got, rounding="sr", seed=3)
    pack_reference(sym, values(5), want, rounding="sr", seed=3)
    return all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_object_code_is_cached_on_disk_and_reused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    prog = _program(11)
    writes, hits = jit.STATS["disk_writes"], jit.STATS["disk_hits"]
    first = HostCode.of(prog)
    files = list((tmp_path / "d1c" / "jit").glob("*.o"))
    assert len(files) == 1 and jit.STATS["disk_writes"] == writes + 1
    _forget(first)
    again = HostCode.of(prog)
    assert jit.STATS["disk_hits"] == hits + 1 and jit.STATS["disk_writes"] == writes + 1
    assert again.module is not first.module and _packs_like_reference(again)
    _forget(again)
    files[0].write_bytes(files[0].read_bytes()[:-10] + b"0123456789")  # damaged object
    third = HostCode.of(prog)
    assert jit.STATS["disk_hits"] == hits + 1 and jit.STATS["disk_writes"] == writes + 2
    assert _packs_like_reference(third)


def test_other_ir_gets_another_cache_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    HostCode.of(_program(12))
    HostCode.of(_program(13))
    assert len(list((tmp_path / "d1c" / "jit").glob("*.o"))) == 2


def test_unwritable_cache_still_compiles(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert _packs_like_reference(HostCode.of(_program(14)))


def test_blob_must_match_the_symbol_table() -> None:
    prog = with_host_ir(_program(15))
    assert dict(prog.blobs)["host-ir"].decode() == host_ir(prog)
    assert D1xProgram.from_bytes(prog.to_bytes()).blobs == prog.blobs
    other = D1xProgram("mini", symbols=_program(16).symbols, blobs=prog.blobs)
    with pytest.raises(DecodeError, match="does not match its symbol table"):
        HostCode.of(other)
