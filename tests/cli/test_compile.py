"""The compile / opt / coverage / targets commands, run as a user runs them (a subprocess for the
pipe, click's runner for the rest). Expected text is checked with plain asserts (substrings, exact
text); the FileCheck tests of every pass through `d1c opt` are tests/lit."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from d1c import driver
from d1c.cli import main
from d1c.errors import CompileError
from d1c.ir import parse_module, print_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
BAD_MODEL = """import torch


class M(torch.nn.Module):
    def forward(self, x):
        y = torch.fft.rfft(x).abs()
        s = torch.atan2(x, x + 1)
        return y.sum() + s.sum()


def model():
    return M()


def example_inputs():
    return (torch.randn(4, 8),)
"""


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def test_compile_transformer_pipes_into_opt_and_round_trips(tmp_path: Path) -> None:
    """Acceptance: `d1c compile examples/transformer.py --emit graph | d1c opt - -p canonicalize`
    prints IR that parses back to the same text when printed again."""
    d1c = [sys.executable, "-m", "d1c"]
    graph = subprocess.run(
        [*d1c, "compile", "examples/transformer.py", "--emit", "graph"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    opt = subprocess.run(
        [*d1c, "opt", "-", "-p", "canonicalize"],
        cwd=ROOT,
        input=graph.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert opt.stdout.startswith("module @transformer {")
    assert print_module(parse_module(opt.stdout)) == opt.stdout
    assert " matmul " in opt.stdout and " softmax " in opt.stdout and "data @" in opt.stdout


def test_unsupported_ops_are_all_listed_without_traceback(tmp_path: Path) -> None:
    """Acceptance: rfft and atan2 are both listed with their source lines; no traceback."""
    model = tmp_path / "bad_model.py"
    model.write_text(BAD_MODEL)
    proc = subprocess.run(
        [sys.executable, "-m", "d1c", "compile", str(model)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "aten._fft_r2c.default" in proc.stderr and "bad_model.py:6" in proc.stderr
    assert "aten.atan2.default" in proc.stderr and "bad_model.py:7" in proc.stderr


@pytest.mark.parametrize("example", EXAMPLES)
def test_coverage_prints_a_table_for_every_example(example: str) -> None:
    result = run("coverage", str(ROOT / "examples" / example))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["op", "count", "supported"]
    assert lines[-1].endswith("0 not supported")
    assert any(line.startswith("aten.") for line in lines)


def test_coverage_of_unsupported_model_prints_the_table_and_exits_one(tmp_path: Path) -> None:
    model = tmp_path / "bad_model.py"
    model.write_text(BAD_MODEL)
    result = run("coverage", str(model))
    assert result.exit_code == 1
    assert "aten.atan2.default" in result.output and "2 not supported" in result.output


OPT_INPUT = """module @m {
  func @main(%x: tensor<2x3xfp32>) -> (tensor<2x3xfp32>) {
    %0 = permute %x {dims = [1, 0]} : tensor<3x2xfp32>
    %1 = permute %0 {dims = [1, 0]} : tensor<2x3xfp32>
    %2 = exp %x : tensor<2x3xfp32>
    %3 = relu %1 : tensor<2x3xfp32>
    return %3
  }
}
"""


def test_opt_runs_the_pipeline_and_dumps_after_each_pass() -> None:
    result = CliRunner().invoke(
        main,
        ["opt", "-", "-p", "canonicalize", "--print-ir-after-all", "--time-passes"],
        input=OPT_INPUT,
    )
    assert result.exit_code == 0, result.output
    assert "IR Dump After canonicalize" in result.output
    expected = "module @m {\n  func @main(%x: tensor<2x3xfp32>) -> (tensor<2x3xfp32>) {\n    %0 = relu %x : tensor<2x3xfp32>\n    return %0\n  }\n}\n"
    assert expected in result.output


def test_opt_reports_bad_ir_with_position() -> None:
    result = run(
        "opt",
        "-",
        "-p",
        "canonicalize",
        stdin=OPT_INPUT.replace("dims = [1, 0]}", "dims = [1, 0]", 1),
    )
    assert result.exit_code == 1
    assert result.output.startswith("<stdin>:3:")
    assert "^" in result.output


def test_opt_reports_unknown_pass() -> None:
    result = run("opt", "-", "-p", "canonicalize,frobnicate", stdin=OPT_INPUT)
    assert result.exit_code == 1
    assert "unknown pass 'frobnicate'" in result.output and "fold-batchnorm" in result.output


def test_compile_reads_ir_files_and_writes_output(tmp_path: Path) -> None:
    src = tmp_path / "in.d1"
    src.write_text(OPT_INPUT)
    out = tmp_path / "out.d1"
    result = run("compile", str(src), "--emit", "graph", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert " relu %x " in out.read_text()


def test_missing_model_file_is_a_clean_error() -> None:
    result = run("compile", "no/such/model.py")
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_targets_lists_the_default_tile() -> None:
    result = run("targets")
    assert result.exit_code == 0
    tile = next(line for line in result.output.splitlines() if line.startswith("dojo-tile"))
    assert "8,850" in tile and "5x5" in tile and "9.06 PFLOPS" in tile


# IR whose constants have no data (printed with --elide-data, or a data line deleted) parses
# but cannot be compiled: a CompileError naming the constants at the first one's line, not a
# KeyError from the cfp8 calibration (found by ``d1c fuzz --target dojo-tile --seed 6``: a mutant
# with the `data @c0` line deleted; this is its shrunk form).


MUTANT = """module @m {
  func @main(%x0: tensor<1x1x1x1xfp32>) -> (tensor<1x1x1x1xfp32>) {
    %0 = full {value = 0.0} : tensor<1xfp32>
    %1 = const {name = @c0} : tensor<1xfp32>
    %2 = const {name = @c1} : tensor<1xfp32>
    %3 = batch_norm %x0, %1, %2, %0, %0 {eps = 1e-05} : tensor<1x1x1x1xfp32>
    return %3
  }
  data @c1 : tensor<1xfp32> = 0xeeadae3f
}
"""


@pytest.mark.parametrize("dtype", ["bf16", "cfp8"])
def test_constants_without_data_are_a_compile_error(dtype: str) -> None:
    m = parse_module(MUTANT, "mutant.d1")
    x = driver.random_inputs(m)
    with pytest.raises(CompileError, match=r"constant\(s\) @c0 have no data") as err:
        driver.compile_stages(m, "placed", driver.Options("mini", dtype, tuple(x)))
    assert err.value.loc.line == 4


def test_cli_compile_of_elided_ir_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "elided.d1"
    path.write_text(MUTANT.replace("  data @c1 : tensor<1xfp32> = 0xeeadae3f\n", ""))
    result = CliRunner().invoke(main, ["compile", str(path), "--target", "mini", "--dtype", "cfp8"])
    assert result.exit_code == 1
    assert "constant(s) @c0, @c1 have no data" in result.output
    assert "--elide-data" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["compile", "verify", "report"])
def test_a_misspelt_target_fails_at_once_with_a_suggestion(command: str) -> None:
    """The target is checked before the model is exported: no torch.export of a missing file
    runs, so the error is about the target, with the closest known name."""
    result = run(command, "no-such-model.py", "--target", "dojo-tiel")
    assert result.exit_code == 1
    assert "unknown target 'dojo-tiel'" in result.output
    assert "did you mean 'dojo-tile'?" in result.output
    assert "no-such-model.py" not in result.output


WITH_DATA = """module @m {
  func @main(%x: tensor<2xfp32>) -> (tensor<2xfp32>) {
    %0 = const {name = @w} : tensor<2xfp32>
    %1 = add %x, %0 : tensor<2xfp32>
    return %1
  }
  data @w : tensor<2xfp32> = 0x0000803f00000040
}
"""


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[str, int]:
    """Run ``d1c ARGS`` with stdout and stderr on a pseudo-terminal: (everything shown, exit)."""
    import os
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "d1c", *args], stdout=follower, stderr=follower, cwd=cwd
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n"), proc.wait()


def test_ir_on_a_terminal_leaves_constant_data_out_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "m.d1").write_text(WITH_DATA)
    shown, code = _on_a_terminal(["opt", "m.d1", "-p", "canonicalize"], tmp_path)
    assert code == 0, shown
    assert "data @w" not in shown and "const {name = @w}" in shown
    assert "--keep-data prints them" in shown
    shown, code = _on_a_terminal(["opt", "m.d1", "-p", "canonicalize", "--keep-data"], tmp_path)
    assert code == 0 and "data @w : tensor<2xfp32> = 0x0000803f00000040" in shown


def test_ir_into_a_pipe_or_file_keeps_its_data(tmp_path: Path) -> None:
    (tmp_path / "m.d1").write_text(WITH_DATA)
    result = run("opt", str(tmp_path / "m.d1"), "-p", "canonicalize")
    assert result.exit_code == 0 and "data @w" in result.output
    result = run("compile", str(tmp_path / "m.d1"), "--emit", "graph", "-o", str(tmp_path / "g"))
    assert result.exit_code == 0 and "data @w" in (tmp_path / "g").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--emit", "placed", "--stop-after", "tiled"], "--emit placed contradicts --stop-after"),
        (["--emit", "asm", "--stop-after", "graph"], "--emit asm contradicts --stop-after graph"),
        (
            ["--elide-data"],
            "--elide-data applies to IR text and listings, but this command writes a .d1x",
        ),
        (["--emit", "host-ir", "--keep-data"], "--keep-data applies to IR text and listings, but"),
    ],
)
def test_contradictory_flags_are_rejected(tmp_path: Path, flags: list[str], message: str) -> None:
    (tmp_path / "m.d1").write_text(WITH_DATA)
    result = run("compile", str(tmp_path / "m.d1"), *flags, "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "out").exists()
    assert (
        run("compile", str(tmp_path / "m.d1"), "--emit", "tiled", "--stop-after", "tiled").exit_code
        == 0
    )


def test_time_passes_covers_the_whole_compile(tmp_path: Path) -> None:
    """One table from start-up to the written file: every phase of a model's compile, each pass
    of each stage (the pipelines' own lists), and rows that add up to the total."""
    import re

    from d1c.passes.pipelines import STAGES, stage_pipeline

    out = tmp_path / "mlp.d1x"
    args = [sys.executable, "-m", "d1c", "compile", "examples/mlp.py", "--target", "mini"]
    done = subprocess.run([*args, "-o", str(out), "--time-passes"], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\s+(\d+\.\d{4})\s+(\d+\.\d)  (.+)$", done.stderr, re.M)
    names = [name for _, _, name in rows]
    passes = [
        f"{stage}: {name.split('{')[0]}"
        for stage in STAGES
        for name in stage_pipeline(stage, "bf16").split(",")
    ]
    first = ["start-up (Python, d1c and click imports)", "import torch and d1c's frontend",
             "run the model file (model(), example_inputs())", "torch.export", "import into graph IR"]  # fmt: skip
    last = ["plan kernels (work lists, SRAM homes)", "isel", "emit (assemble, images, symbols)",
            "host code (LLVM IR of pack/unpack)", "kernel table for d1c report", f"write {out}",
            "(other: between the phases above)", "total"]  # fmt: skip
    assert names[: len(first)] == first and names[-len(last) :] == last
    assert [n for n in names if n in passes] == list(dict.fromkeys(passes))
    assert len(done.stderr.split("wall-clock time")) == 2  # one table, not one per stage
    seconds = [float(s) for s, _, _ in rows]
    assert sum(seconds[:-1]) == pytest.approx(seconds[-1], abs=1e-3 * len(rows))
    assert out.stat().st_size > 0


def test_verify_on_a_terminal_shows_its_stages_and_is_quiet_when_piped(tmp_path: Path) -> None:
    shown, code = _on_a_terminal(["verify", str(ROOT / "examples" / "attention.d1"), "--target", "mini"], tmp_path)  # fmt: skip
    assert code == 0, shown
    for note in ("1/7 read the IR", "compile", "rung 1: graph IR against eager", "simulate"):
        assert note in shown, shown
    assert "\r\033[K" in shown and shown.rstrip().endswith("PASS")
    piped = run("verify", str(ROOT / "examples" / "attention.d1"), "--target", "mini")
    assert "\r" not in piped.output and "verify [" not in piped.output


def test_commands_say_what_they_wrote(tmp_path: Path) -> None:
    listing = tmp_path / "m.s"
    listing.write_text((ROOT / "examples" / "matmul64.s").read_text())
    res = run("asm", str(listing), "-o", str(tmp_path / "m.d1x"))
    size = (tmp_path / "m.d1x").stat().st_size
    assert res.exit_code == 0
    assert res.output.startswith(f"wrote {tmp_path / 'm.d1x'}: {size:,} bytes, 1 code section, ")
    files = {k: tmp_path / f"r.{k}" for k in ("png", "html", "json", "trace")}
    args = [f"--{k}={v}" for k, v in files.items()]
    res = run("report", str(ROOT / "examples" / "attention.d1"), "--target", "mini", "--timing-only", *args)  # fmt: skip
    assert res.exit_code == 0, res.output
    for path in files.values():
        assert f"wrote {path}: " in res.output and f", {path.stat().st_size:,} bytes" in res.output


def test_the_command_line_starts_without_torch_or_hypothesis() -> None:
    """Every command pays for what `import d1c.cli` loads: the fuzzer's hypothesis (about a
    second) and torch load only in the commands that use them."""
    code = "import sys, d1c.cli; print(' '.join(sorted(sys.modules)))"
    mods = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = mods.stdout.split()
    assert "hypothesis" not in loaded and "torch" not in loaded


def test_a_listing_on_a_terminal_leaves_image_bytes_out(tmp_path: Path) -> None:
    d1x = tmp_path / "a.d1x"
    assert run("compile", str(ROOT / "examples" / "attention.d1"), "--target", "mini", "-o", str(d1x)).exit_code == 0  # fmt: skip
    listing = run("disasm", str(d1x)).output  # redirected: all of it
    assert ".hex " in listing
    shown, code = _on_a_terminal(["disasm", "a.d1x"], tmp_path)
    assert code == 0 and ".hex " not in shown and "bytes of data left out" in shown, shown
    assert "--keep-data prints them" in shown
    shown, code = _on_a_terminal(["disasm", "a.d1x", "--keep-data"], tmp_path)
    assert shown.replace("\r", "") == listing
