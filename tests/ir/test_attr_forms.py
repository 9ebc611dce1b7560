"""Packed attributes of placed IR print readably and read back to the same integers
(``d1c.ir.attr_forms``); the raw forms still parse; malformed records are clean errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d1c.errors import ParseError
from d1c.ir import parse_module, print_module

PLACED = """module @m {{
  func @main(%x: tensor<4x8xbf16>) -> (tensor<4x8xbf16>) {{
    %0 = exp %x {{tile = [4, 8], cores = 1, {attrs}}} : tensor<4x8xbf16>
    return %0
  }}
}}
"""


def _op(attrs: str):
    return parse_module(PLACED.format(attrs=attrs)).main.ops[0]


@pytest.mark.parametrize(
    ("text", "hbm"),
    [
        ("dip0+0x0", 0),
        ("dip1+0x0", 1 << 35),  # the README's `hbm = 34359738368`
        ("dip4+0x1f80", (4 << 35) + 0x1F80),
        ("striped+0x4000", (31 << 35) + 0x4000),
    ],
)
def test_hbm_addresses_name_their_window(text: str, hbm: int) -> None:
    op = _op(f"hbm = {text}")
    assert op.attrs["hbm"] == hbm
    assert f"hbm = {text}" in print_module(parse_module(PLACED.format(attrs=f"hbm = {text}")))


def test_route_is_a_record_of_named_fields() -> None:
    text = PLACED.format(attrs="hbm = dip0+0x0, route = {hops = 70, busiest = 9344}")
    module = parse_module(text)
    assert module.main.ops[0].attrs["route"] == (70, 9344)
    assert print_module(module) == text  # canonical text round-trips
    swapped = text.replace("{hops = 70, busiest = 9344}", "{busiest = 9344, hops = 70}")
    assert parse_module(swapped).main.ops[0].attrs["route"] == (70, 9344)


def test_raw_integers_still_parse_and_print_readably() -> None:
    module = parse_module(PLACED.format(attrs="hbm = 34359738368, route = [70, 9344]"))
    assert module.main.ops[0].attrs["hbm"] == 1 << 35
    assert "hbm = dip1+0x0, route = {hops = 70, busiest = 9344}" in print_module(module)


@given(st.integers(0, (1 << 40) - 1), st.integers(0, 10**6), st.integers(0, 1 << 40))
def test_any_stored_values_round_trip(hbm: int, hops: int, busiest: int) -> None:
    module = parse_module(PLACED.format(attrs=f"hbm = {hbm}, route = [{hops}, {busiest}]"))
    text = print_module(module)
    again = parse_module(text)
    assert again.main.ops[0].attrs["hbm"] == hbm
    assert again.main.ops[0].attrs["route"] == (hops, busiest)
    assert print_module(again) == text


@pytest.mark.parametrize(
    ("attrs", "message", "at"),
    [
        ("route = {hops = 70}", "attribute 'route': expected the fields hops, busiest", "{hops"),
        ("route = {hops = 70, busiest = 1, more = 2}", "expected the fields hops", "{hops"),
        ("route = {hops = 70, hops = 1}", "field 'hops' is given twice", "hops = 1}"),
        ("route = {hops = 1.5, busiest = 2}", "record fields must be integers", "{hops"),
        ("route = [1, 2, 3]", "expected 2 integers (hops, busiest)", "[1, 2"),
        (
            "hbm = dap0+0x10",
            "unknown HBM window 'dap0'; expected dip<N>, striped or logical",
            "dap0",
        ),
        ("hbm = dip0+0x800000000", "is beyond a 2^35-byte window", "dip0"),
        ("buffers = {sets = 2}", "attribute 'buffers' has no record or address form", "{sets"),
    ],
)
def test_malformed_forms_are_errors_at_the_value(attrs: str, message: str, at: str) -> None:
    text = PLACED.format(attrs=attrs)
    with pytest.raises(ParseError) as info:
        parse_module(text, "p.d1")
    err = info.value
    assert message in err.message and err.loc.line == 3
    assert text.splitlines()[2][err.loc.col - 1 :].startswith(at)
