"""Parse and verify errors: each names file:line:col, shows the line with a caret, and says what is
wrong. The expected positions below are counted by hand from the text."""

import pytest

from d1c.errors import ParseError, VerifyError
from d1c.ir import parse_module

GOOD = """module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<3x2xfp32>) {
    %0 = exp %x : tensor<2x3xfp32>
    %1 = permute %0 {dims = [1, 0]} : tensor<3x2xfp32>
    return %1
  }
}
"""

CASES = [
    # (replace this, with this, error class, line, col, message fragment)
    ("%0 = exp %x", "%0 = exp %y", VerifyError, 3, 14, "use of undefined value %y"),
    ("%1 = permute", "%0 = permute", VerifyError, 4, 5, "value %0 is defined twice"),
    ("dims = [1, 0]", "dims = [0, 0]", VerifyError, 4, 5, "not a permutation"),
    ("dims = [1, 0]", "dimz = [1, 0]", VerifyError, 4, 5, "has no attribute 'dimz'"),
    (" {dims = [1, 0]}", "", VerifyError, 4, 5, "needs attribute 'dims'"),
    (
        "-> (tensor<3x2xfp32>)",
        "-> (tensor<2x3xfp32>)",
        VerifyError,
        5,
        5,
        "do not match the signature",
    ),
    ("= exp %x", "= frobnicate %x", VerifyError, 3, 5, "unknown op 'frobnicate'"),
    (
        "%0 = exp %x : tensor<2x3xfp32>",
        "%0 = exp %x : tensor<3x2xfp32>",
        VerifyError,
        3,
        5,
        "should be tensor<2x3xfp32>",
    ),
    (
        "tensor<2x3xfp32>) ->",
        "tensor<2x3xfp33>) ->",
        ParseError,
        2,
        18,
        "unknown element type 'fp33'",
    ),
    ("tensor<2x3xfp32>) ->", "tensor<2xax3xfp32>) ->", ParseError, 2, 18, "bad dimension"),
    ("%0 = exp %x", "%0 = exp %x,", ParseError, 3, 18, "expected"),
    ("    return %1\n", "", VerifyError, 2, 3, "must end with 'return'"),
    ("}\n}\n", "}\n", ParseError, 6, 4, "end of input"),
    ("%0 = exp", "%0 = $exp", ParseError, 3, 10, "unexpected character '$'"),
]


@pytest.mark.parametrize(("old", "new", "cls", "line", "col", "fragment"), CASES)
def test_error_position_and_message(old, new, cls, line, col, fragment) -> None:
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    with pytest.raises(cls) as info:
        parse_module(text, "bad.d1")
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col) == ("bad.d1", line, col)
    assert fragment in err.message
    rendered = err.render().splitlines()
    assert rendered[0].startswith(f"bad.d1:{line}:{col}: error: ")
    source_line = text.splitlines()[line - 1] if line <= len(text.splitlines()) else None
    if source_line is not None:
        assert rendered[1] == "  " + source_line
        assert rendered[2] == "  " + " " * (col - 1) + "^"


def test_good_text_parses() -> None:
    assert parse_module(GOOD).main.name == "main"


def test_data_size_mismatch_is_reported_at_the_bytes() -> None:
    text = GOOD.replace("  }\n}\n", "  }\n  data @w : tensor<2xfp32> = 0x00\n}\n")
    with pytest.raises(ParseError) as info:
        parse_module(text, "d.d1")
    assert (info.value.loc.line, info.value.loc.col) == (7, 30)
    assert "has 1 bytes, but tensor<2xfp32> holds 8" in info.value.message


def test_const_data_type_mismatch() -> None:
    text = GOOD.replace(
        "%0 = exp %x : tensor<2x3xfp32>",
        "%9 = const {name = @w} : tensor<3xfp32>\n    %0 = exp %x : tensor<2x3xfp32>",
    ).replace("  }\n}\n", "  }\n  data @w : tensor<2xfp32> = 0x0000000000000000\n}\n")
    with pytest.raises(
        VerifyError, match=r"constant @w holds float32\[2\], but the op declares tensor<3xfp32>"
    ):
        parse_module(text, "c.d1")
