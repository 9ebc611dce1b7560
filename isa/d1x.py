"""The ``.d1x`` container: one compiled program for a D1 target, as deterministic bytes.

A program is usually SPMD: one :class:`CodeSection` runs on a group of cores given
as 4-D boxes of global coordinates (:class:`CoreRange`), each core reading its chip/core position
from special registers and its own row of the per-core parameter table (:class:`ParamRow`, copied
by the loader to SRAM address ``param_addr`` of that core), so file size and compile time do not
grow with 8,850 copies of the code.

Layout (all integers little-endian)::

    offset 0   magic  b"D1X\\x00"
    offset 4   u16    format version (VERSION)
    offset 6   u16    reserved, 0
    offset 8   u64    body length in bytes
    offset 16  32 B   sha256 of the body
    offset 48  body:  target, notes, meta, param_addr, param_words, code sections, param rows,
                      SRAM images, HBM images, symbols, blobs — in that order

Body encoding: ``str`` = u32 length + UTF-8; ``bytes`` = u32 length + data; a list = u32 count +
items; a core coordinate = 4 x u8 (chip_x, chip_y, core_x, core_y); a core range = 8 x u8
(lo, hi of each). Code is whole 32-bit instruction words; labels are (name, word index) and
comments (word index, text) so the disassembler reproduces the source listing.

Determinism: metadata is sorted by key, blobs by name and parameter rows by core in
``__post_init__``; nothing depends on time or the host, so writing a program twice gives identical
bytes. :func:`read_d1x` checks the magic, version, length and checksum, then every field, and
raises :class:`~d1c.isa.errors.DecodeError` naming the byte offset of the first bad byte.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from d1c.isa.encoding import decode_words
from d1c.isa.errors import DecodeError, SimulationError
from d1c.isa.tiles import FMT_NAMES

MAGIC = b"D1X\x00"
VERSION = 1
HEADER_BYTES = 48
ROLES = ("input", "output", "weight", "state")
SPACES = ("hbm", "sram")

Coord = tuple[int, int, int, int]

DEFAULT_TARGET = "dojo-tile"  # the machine of a program that names none (d1c.target)


@dataclass(frozen=True, slots=True)
class CoreRange:
    """A box of cores: inclusive (lo, hi) for chip_x, chip_y, core_x, core_y."""

    lo: Coord
    hi: Coord

    def __contains__(self, c: Coord) -> bool:
        return all(a <= v <= b for a, v, b in zip(self.lo, c, self.hi, strict=True))

    def __str__(self) -> str:
        return ".".join(
            str(a) if a == b else f"{a}-{b}" for a, b in zip(self.lo, self.hi, strict=True)
        )

    @staticmethod
    def single(c: Coord) -> CoreRange:
        """The range holding one core."""
        return CoreRange(tuple(c), tuple(c))


@dataclass(frozen=True, slots=True)
class CodeSection:
    """Instruction words run by every core in ``cores``, with labels and comments for listings."""

    name: str
    cores: tuple[CoreRange, ...]
    code: bytes
    labels: tuple[tuple[str, int], ...] = ()
    comments: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ParamRow:
    """One core's row of the per-core parameter table (32-bit words)."""

    core: Coord
    words: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SramImage:
    """Initial bytes at SRAM address ``addr`` of every core in ``cores``."""

    cores: tuple[CoreRange, ...]
    addr: int
    data: bytes


@dataclass(frozen=True, slots=True)
class HbmImage:
    """Initial bytes at global DIP HBM address ``addr`` (DIP d owns [d << 35, (d+1) << 35))."""

    addr: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a piece of a tensor lives: element ``region`` (per-dim [start, stop)) stored at
    ``addr`` in HBM or in one core's SRAM, with byte ``strides`` per dimension."""

    space: str
    core: Coord | None
    addr: int
    region: tuple[tuple[int, int], ...]
    strides: tuple[int, ...]


def window(p: Placement, shape: tuple[int, ...], esize: int, what: str) -> tuple[int, int]:
    """(lo, hi): the placement's elements lie in bytes ``[addr + lo, addr + hi)``; checks rank and
    that the region lies inside the tensor (SimulationError otherwise)."""
    if len(p.region) != len(shape) or len(p.strides) != len(shape):
        raise SimulationError(f"{what}: placement rank does not match shape {shape}")
    lo = hi = 0
    for (start, stop), dim, s in zip(p.region, shape, p.strides, strict=True):
        if not 0 <= start <= stop <= dim:
            raise SimulationError(f"{what}: region [{start}, {stop}) is outside dimension {dim}")
        span = (stop - start - 1) * s
        lo, hi = lo + min(0, span), hi + max(0, span)
    return lo, hi + esize


def empty(p: Placement) -> bool:
    """True if the placement's box holds no element."""
    return any(b <= a for a, b in p.region)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A program input/output: name, role, shape, storage format and bias, a layout description
    for humans, and placements that together cover the tensor."""

    name: str
    role: str
    shape: tuple[int, ...]
    fmt: str
    bias: int
    layout: str
    placements: tuple[Placement, ...] = ()


@dataclass(frozen=True, slots=True)
class D1xProgram:
    """A whole program; :meth:`to_bytes` and :meth:`from_bytes` convert to and from ``.d1x``."""

    target: str
    code: tuple[CodeSection, ...] = ()
    param_addr: int = 0
    param_words: int = 0
    params: tuple[ParamRow, ...] = ()
    sram: tuple[SramImage, ...] = ()
    hbm: tuple[HbmImage, ...] = ()
    symbols: tuple[Symbol, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    blobs: tuple[tuple[str, bytes], ...] = ()
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", tuple(sorted(self.meta)))
        object.__setattr__(self, "blobs", tuple(sorted(self.blobs)))
        object.__setattr__(self, "params", tuple(sorted(self.params, key=lambda p: p.core)))

    def to_bytes(self) -> bytes:
        """The ``.d1x`` bytes (identical for equal programs)."""
        return write_d1x(self)

    @staticmethod
    def from_bytes(data: bytes) -> D1xProgram:
        """Parse ``.d1x`` bytes; DecodeError naming the offset on any problem."""
        return read_d1x(data)

    def section_for(self, core: Coord) -> CodeSection | None:
        """The code section that ``core`` runs (the first whose ranges contain it), if any."""
        return next((s for s in self.code if any(core in r for r in s.cores)), None)

    def param_row(self, core: Coord) -> tuple[int, ...]:
        """The parameter words of ``core`` (zeros when it has no row)."""
        row = next((p.words for p in self.params if p.core == tuple(core)), ())
        return tuple(row) + (0,) * (self.param_words - len(row))


def argument_of(symbol: str) -> str:
    """The argument an input symbol carries: ``x`` for ``x``, ``x.1``, ``x.2``... (d1c names the
    extra formats an argument is packed in this way; docs/lowering.md, "Host side")."""
    base, dot, n = symbol.rpartition(".")
    return base if dot and base and n.isdigit() else symbol


def argument_names(prog: D1xProgram) -> list[str]:
    """The names of the program's arguments (its input symbols by :func:`argument_of`), in
    order: what ``d1c run --input NAME=FILE.npy`` takes."""
    names = [argument_of(s.name) for s in prog.symbols if s.role == "input"]
    return list(dict.fromkeys(names))


def symbol_inputs(prog: D1xProgram, arguments: dict) -> dict:
    """Per input symbol, the value of its argument; arguments the program lacks are left out."""
    return {
        s.name: arguments[argument_of(s.name)]
        for s in prog.symbols
        if s.role == "input" and argument_of(s.name) in arguments
    }


# ---------------------------------------------------------------- writing
class _W:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def u(self, fmt: str, *v: int) -> None:
        self.parts.append(struct.pack("<" + fmt, *v))

    def blob(self, b: bytes) -> None:
        self.u("I", len(b))
        self.parts.append(bytes(b))

    def str(self, s: str) -> None:
        self.blob(s.encode("utf-8"))

    def list(self, items, each) -> None:
        self.u("I", len(items))
        for it in items:
            each(it)


def _w_range(w: _W, r: CoreRange) -> None:
    w.u("8B", *r.lo, *r.hi)


def _w_section(w: _W, s: CodeSection) -> None:
    w.str(s.name)
    w.list(s.cores, lambda r: _w_range(w, r))
    w.blob(s.code)
    w.list(s.labels, lambda lab: (w.str(lab[0]), w.u("I", lab[1])))
    w.list(s.comments, lambda c: (w.u("I", c[0]), w.str(c[1])))


def _w_placement(w: _W, p: Placement) -> None:
    w.u("B", SPACES.index(p.space))
    w.u("4B", *(p.core or (0, 0, 0, 0)))
    w.u("Q", p.addr)
    w.list(p.region, lambda r: w.u("II", *r))
    w.list(p.strides, lambda s: w.u("q", s))


def _w_symbol(w: _W, s: Symbol) -> None:
    w.str(s.name)
    w.u("B", ROLES.index(s.role))
    w.list(s.shape, lambda d: w.u("I", d))
    w.u("BB", FMT_NAMES.index(s.fmt), s.bias)
    w.str(s.layout)
    w.list(s.placements, lambda p: _w_placement(w, p))


def write_d1x(p: D1xProgram) -> bytes:
    """Serialise ``p`` (see the module docstring for the layout)."""
    w = _W()
    w.str(p.target)
    w.list(p.notes, w.str)
    w.list(p.meta, lambda kv: (w.str(kv[0]), w.str(kv[1])))
    w.u("II", p.param_addr, p.param_words)
    w.list(p.code, lambda s: _w_section(w, s))
    w.list(p.params, lambda r: (w.u("4B", *r.core), w.list(r.words, lambda v: w.u("I", v))))
    w.list(
        p.sram,
        lambda m: (w.list(m.cores, lambda r: _w_range(w, r)), w.u("I", m.addr), w.blob(m.data)),
    )
    w.list(p.hbm, lambda m: (w.u("Q", m.addr), w.blob(m.data)))
    w.list(p.symbols, lambda s: _w_symbol(w, s))
    w.list(p.blobs, lambda b: (w.str(b[0]), w.blob(b[1])))
    body = b"".join(w.parts)
    head = MAGIC + struct.pack("<HHQ", VERSION, 0, len(body)) + hashlib.sha256(body).digest()
    return head + body


# ---------------------------------------------------------------- reading
class _R:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DecodeError(
                f"byte offset {self.pos}: truncated {what} (need {n} bytes, {len(self.data) - self.pos} left)"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u(self, fmt: str, what: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def one(self, fmt: str, what: str) -> int:
        return self.u(fmt, what)[0]

    def blob(self, what: str) -> bytes:
        return self.take(self.one("I", f"{what} length"), what)

    def str(self, what: str = "string") -> str:
        at = self.pos
        raw = self.blob(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"byte offset {at}: {what} is not valid UTF-8") from None

    def list(self, each, what: str) -> tuple:
        at = self.pos
        n = self.one("I", f"{what} count")
        if n > len(self.data) - self.pos:
            raise DecodeError(f"byte offset {at}: {what} count {n} exceeds the remaining bytes")
        return tuple(each() for _ in range(n))

    def pick(self, names: tuple[str, ...], what: str) -> str:
        at = self.pos
        i = self.one("B", what)
        if i >= len(names):
            raise DecodeError(f"byte offset {at}: invalid {what} code {i}")
        return names[i]


def _r_range(r: _R) -> CoreRange:
    v = r.u("8B", "core range")
    return CoreRange(v[:4], v[4:])


def _r_section(r: _R) -> CodeSection:
    name = r.str("section name")
    cores = r.list(lambda: _r_range(r), "core ranges")
    at = r.pos + 4
    code = r.blob("code")
    n = len(decode_words(code, at))
    labels = r.list(lambda: (r.str("label"), r.one("I", "label index")), "labels")
    comments = r.list(lambda: (r.one("I", "comment index"), r.str("comment")), "comments")
    for idx in [i for _, i in labels] + [i for i, _ in comments]:
        if idx > n:
            raise DecodeError(
                f"byte offset {r.pos}: label/comment index {idx} beyond the {n} words of {name}"
            )
    return CodeSection(name, cores, code, labels, comments)


def _r_placement(r: _R) -> Placement:
    space = r.pick(SPACES, "placement space")
    core = r.u("4B", "placement core")
    addr = r.one("Q", "placement address")
    region = r.list(lambda: r.u("II", "region"), "region")
    strides = r.list(lambda: r.one("q", "stride"), "strides")
    return Placement(space, core if space == "sram" else None, addr, region, strides)


def _r_symbol(r: _R) -> Symbol:
    name = r.str("symbol name")
    role = r.pick(ROLES, "symbol role")
    shape = r.list(lambda: r.one("I", "dimension"), "shape")
    fmt = r.pick(FMT_NAMES, "symbol format")
    bias = r.one("B", "symbol bias")
    layout = r.str("layout")
    return Symbol(
        name, role, shape, fmt, bias, layout, r.list(lambda: _r_placement(r), "placements")
    )


def _check_header(data: bytes) -> int:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"byte offset 0: expected bytes, got {type(data).__name__}")
    if len(data) < HEADER_BYTES:
        raise DecodeError(
            f"byte offset {len(data)}: truncated header ({len(data)} of {HEADER_BYTES} bytes)"
        )
    if bytes(data[:4]) != MAGIC:
        raise DecodeError("byte offset 0: not a .d1x file (bad magic)")
    version, _, length = struct.unpack_from("<HHQ", data, 4)
    if version != VERSION:
        raise DecodeError(f"byte offset 4: unsupported .d1x version {version} (expected {VERSION})")
    if HEADER_BYTES + length != len(data):
        raise DecodeError(
            f"byte offset {min(len(data), HEADER_BYTES + length)}: body length {length} does not match the file size"
        )
    if hashlib.sha256(data[HEADER_BYTES:]).digest() != bytes(data[16:48]):
        raise DecodeError("byte offset 16: checksum mismatch (the file is corrupt)")
    return HEADER_BYTES


def read_d1x(data: bytes) -> D1xProgram:
    """Parse and validate ``.d1x`` bytes."""
    data = bytes(data) if isinstance(data, bytearray | memoryview) else data
    r = _R(data, _check_header(data))
    target = r.str("target")
    notes = r.list(r.str, "notes")
    meta = r.list(lambda: (r.str("meta key"), r.str("meta value")), "meta")
    param_addr, param_words = r.u("II", "param table")
    code = r.list(lambda: _r_section(r), "code sections")
    params = r.list(
        lambda: ParamRow(r.u("4B", "param core"), r.list(lambda: r.one("I", "param"), "param row")),
        "params",
    )
    sram = r.list(
        lambda: SramImage(
            r.list(lambda: _r_range(r), "core ranges"),
            r.one("I", "sram address"),
            r.blob("sram image"),
        ),
        "sram images",
    )
    hbm = r.list(lambda: HbmImage(r.one("Q", "hbm address"), r.blob("hbm image")), "hbm images")
    symbols = r.list(lambda: _r_symbol(r), "symbols")
    blobs = r.list(lambda: (r.str("blob name"), r.blob("blob")), "blobs")
    if r.pos != len(data):
        raise DecodeError(f"byte offset {r.pos}: {len(data) - r.pos} unexpected trailing bytes")
    return D1xProgram(
        target, code, param_addr, param_words, params, sram, hbm, symbols, meta, blobs, notes
    )
