"""Generate ``docs/ir.md`` (the IR reference) from the op table; a test fails when it is stale.

Regenerate with ``python -m d1c.ir.docs > docs/ir.md``.
"""

from __future__ import annotations

from d1c.ir.attr_forms import FORMS
from d1c.ir.ops import COMMON_ATTRS, OPS, REQUIRED, OpDef
from d1c.ir.printer import format_attr

SYNTAX = """\
# d1c IR reference

d1c has one textual IR for every level (graph, quantized, tiled, placed). This page is generated
from the op table (`d1c/ir/ops.py`) by `python -m d1c.ir.docs`; do not edit it by hand.

## Syntax

```
module @name {
  func @forward(%x: tensor<2x128x256xfp32>) -> (tensor<2x128x256xfp32>) {
    %0 = const {name = @"fc.weight"} : tensor<256x256xfp32>
    %1 = matmul %x, %0 : tensor<2x128x256xfp32> loc("examples/mlp.py":21:16)
    return %1
  }
  data @"fc.weight" : tensor<256x256xfp32> = 0x0000803f...
}
```

- **Types**: `tensor<D0xD1x...xELEM>`, rank 0 as `tensor<fp32>`. Element types: `fp32`, `bf16`,
  `fp16`, `cfp8_143<bias>`, `cfp8_152<bias>`, `shp<bias>` (CFloat formats with a 6-bit exponent
  bias 0..63), `i64`, `i32`, `i1`.
- **Values** are SSA: `%name`. Canonical text names function arguments by their names and op
  results `%0, %1, ...` in order.
- **Ops**: `%r = NAME %a, %b {attr = value, ...} : RESULT_TYPE loc("file":line:col)`. Attributes
  are integers, floats (`1e-05`, `-inf`, `nan`), strings, `true`/`false`, lists `[1, 2]`, element
  types, tensor types and symbols (`@name`, or `@"any text"`); packed attributes of placed IR
  print readably as records (`route = {hops = 70, busiest = 9344}`) or HBM addresses
  (`hbm = dip1+0x0`, `striped+0x4000`), see the last table. Every attribute of the op's row is
  printed, defaults included. `loc(...)` is the user's source position (from the model file).
- **Constants**: `const {name = @w}` reads module constant `@w`; its bytes are a `data` line at the
  end of the module (little-endian, in the element type's host dtype: float32 for float formats,
  int64/int32, one byte per i1). `--elide-data` leaves the data lines out for reading (the
  default when the text goes to a terminal; `--keep-data` prints them); such text still parses,
  but cannot be interpreted.
- **Comments**: `// ...` to the end of the line.
- Errors point at `file:line:col` with the line and a caret.

## Ops
"""


def _attrs(op: OpDef) -> str:
    parts = []
    for key, (kind, default) in op.attrs.items():
        suffix = "" if default is REQUIRED else f" = {format_attr(default)}"
        parts.append(f"`{key}: {kind}{suffix}`")
    return ", ".join(parts) or "—"


def _printed_as(key: str) -> str:
    form = FORMS.get(key)
    return f"`{form.example}`" if form is not None else "—"


def _arity(op: OpDef) -> str:
    lo, hi = op.arity
    if hi is None:
        return f"{lo}+"
    return str(lo) if lo == hi else f"{lo}–{hi}"


def render() -> str:
    lines = [SYNTAX, "| op | operands | attributes | meaning |", "|---|---|---|---|"]
    for name in sorted(OPS):
        op = OPS[name]
        lines.append(f"| `{name}` | {_arity(op)} | {_attrs(op)} | {op.doc} |")
    lines += [
        "",
        "## Attributes of every op",
        "",
        "The lowering stages add these to any op; they never change its value.",
        "",
    ]
    lines += ["| attribute | kind | printed as | meaning |", "|---|---|---|---|"]
    lines += [
        f"| `{k}` | {kind} | {_printed_as(k)} | {doc} |" for k, (kind, doc) in COMMON_ATTRS.items()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
