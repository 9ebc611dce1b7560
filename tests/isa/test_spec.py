"""Invariants of the instruction table that every consumer (encoder, assembler, simulator) relies on."""

from __future__ import annotations

import inspect

import pytest

from d1c.isa import spec

ROW_IDS = [r.name for r in spec.ROWS]
EXEC_KINDS = {
    "alu", "alu_imm", "const", "load", "store", "branch", "loop", "jump", "halt", "nop", "mark",
    "notify", "await",
    "csr_read", "csr_write", "tdesc", "matrix", "ew", "reduce", "move", "dma", "dma_list",
    "dma_wait", "send", "recv", "mcast", "barrier", "sem_signal", "sem_wait",
}  # fmt: skip


def test_names_and_opcodes_are_unique_and_fit() -> None:
    assert len({r.name for r in spec.ROWS}) == len(spec.ROWS)
    assert len({r.opcode for r in spec.ROWS}) == len(spec.ROWS)
    assert all(1 <= r.opcode < 1 << spec.OPCODE_BITS for r in spec.ROWS)


@pytest.mark.parametrize("name", list(spec.FORMATS))
def test_format_fields_are_disjoint_and_inside_the_word(name: str) -> None:
    used = (1 << spec.OPCODE_BITS) - 1
    for f in spec.FORMATS[name]:
        assert f.lo >= spec.OPCODE_BITS and f.lo + f.width <= 32, f
        assert used & f.mask == 0, f"{name}.{f.name} overlaps"
        used |= f.mask
    assert len({f.name for f in spec.FORMATS[name]}) == len(spec.FORMATS[name])


@pytest.mark.parametrize("row", spec.ROWS, ids=ROW_IDS)
def test_row_is_complete(row: spec.Row) -> None:
    assert row.fmt in spec.FORMATS
    assert set(row.operands) == {f.name for f in spec.FORMATS[row.fmt]}
    assert row.exec in EXEC_KINDS and row.unit in spec.UNITS
    assert row.doc
    if row.sem is not None:
        assert callable(row.sem) and inspect.getdoc(row.sem), f"{row.name}: undocumented semantics"


@pytest.mark.parametrize("row", spec.ROWS, ids=ROW_IDS)
def test_operand_kinds_match_field_names(row: spec.Row) -> None:
    for f in row.fields:
        if f.name in ("rd", "rs1", "rs2", "rs3"):
            assert f.kind == "xreg" and f.width == 5
        elif f.name in ("td", "ta", "tb", "tc", "ti"):
            assert f.kind == "treg" and f.width == 4
        elif f.kind == "enum":
            assert max(spec.ENUMS[f.enum].values()) < 1 << f.width


def test_register_counts_match_field_widths() -> None:
    assert spec.NUM_XREGS == 1 << 5 and spec.NUM_TREGS == 1 << 4


def test_enum_codes_are_unique_and_special_registers_documented() -> None:
    for name, table in spec.ENUMS.items():
        assert len(set(table.values())) == len(table), name
    assert set(spec.SREGS) == set(spec.ENUMS["sreg"])
    assert all(spec.ENUMS["sreg"][n] == c for n, c in spec.ENUMS["wsreg"].items())


def test_field_range_hand_values() -> None:
    imm15 = spec.Field("imm", 17, 15, "simm")
    assert spec.field_range(imm15) == (-16384, 16383)
    assert spec.field_range(spec.Field("rows", 11, 10, "uimm")) == (0, 1023)
    assert spec.field_range(spec.FORMATS["TU"][2]) == (0, 13)  # 14 functions


def test_inst_named_gives_enum_names() -> None:
    inst = spec.Inst("vred", (3, 2, 1, 1, 1, 0))
    assert inst.named() == {
        "td": 3,
        "ta": 2,
        "redop": "max",
        "axis": "cols",
        "mode": "acc",
        "rnd": "rne",
    }
    assert inst.arg("axis") == 1
    assert spec.enum_name("func", 2) == "erf"
    with pytest.raises(KeyError):
        spec.enum_name("cond", 7)


def test_issue_minimum_instruction_set_is_present() -> None:
    required = """
        li lui add sub mul addi sll srl sra and or xor beq bne blt bge jal j loop halt ld st
        csrr tbase tshape tfmt dma.ld dma.st dma.list dma.wait send recv mcast barrier
        sem.signal sem.wait mma vadd vsub vmul vmax vmin vcmp vsel vcvt vfn vred ttrans tbcast
        tcopy tgather vadds vmuls
    """
    missing = [m for m in required.split() if m not in spec.BY_NAME]
    assert not missing
    assert {"exp", "tanh", "erf", "rsqrt", "reciprocal", "sigmoid"} <= set(spec.ENUMS["func"])
