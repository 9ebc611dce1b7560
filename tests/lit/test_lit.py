"""The lit suite itself: every registered pass has its cases (a rewrite, a case it leaves alone,
an error it reports), and the runner fails when it should, with a message naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from d1c.passes import PASSES
from tests.lit.runner import (
    LitError,
    LitFailure,
    RunLine,
    check_file,
    execute,
    parse_command,
    run_lines,
    xfail_reason,
)

LIT = Path(__file__).parent
MIN_CASES = 3  # the rewrite, a case left alone, an error


def _pipeline(argv: tuple[str, ...]) -> str | None:
    for i, word in enumerate(argv):
        if word in ("-p", "--passes") and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--passes="):
            return word.split("=", 1)[1]
    return None


def pass_names(run: RunLine) -> tuple[list[str], bool]:
    """The passes a RUN line's `d1c opt` runs, and whether it expects that command to fail."""
    for cmd in parse_command(run):
        pipeline = _pipeline(cmd.argv) if cmd.argv[:2] == ("d1c", "opt") else None
        if pipeline is not None:
            names = re.sub(r"\{[^{}]*\}", "", pipeline).split(",")
            return [n.strip() for n in names], cmd.expect_failure
    return [], False


def cases(name: str) -> list[tuple[RunLine, bool]]:
    """(RUN line, expects an error) for the RUN lines of tests/lit/NAME that run pass NAME, known
    bugs (XFAIL files) left out."""
    found = []
    for path in sorted((LIT / name).glob("*.d1")):
        if xfail_reason(path) is not None:
            continue
        for run in run_lines(path):
            names, fails = pass_names(run)
            if name in names:
                found.append((run, fails))
    return found


@pytest.mark.parametrize("name", sorted(PASSES))
def test_every_registered_pass_has_its_lit_cases(name: str) -> None:
    found = cases(name)
    errors = sum(fails for _, fails in found)
    assert len(found) >= MIN_CASES and errors >= 1 and len(found) - errors >= 2, (
        f"tests/lit/{name}/ has {len(found)} RUN lines running `d1c opt -p {name}`, "
        f"{errors} of them expecting an error; a pass needs at least {MIN_CASES}: the rewrite "
        "it performs, a case it must leave alone, an error it must report (`not d1c ... 2>&1`)"
    )


def test_every_folder_is_named_after_a_registered_pass() -> None:
    folders = {p.name for p in LIT.iterdir() if p.is_dir() and p.name[0] not in "._"}
    assert folders <= set(PASSES), f"not a pass: {sorted(folders - set(PASSES))}"


# ---------------------------------------------------------------------------------------------
# The runner fails when it should

MODULE = """module @m {
  func @f(%x: tensor<2xfp32>) -> (tensor<2xfp32>) {
    %0 = exp %x : tensor<2xfp32>
    %1 = tanh %x : tensor<2xfp32>
    return %0
  }
}
"""


def lit_file(tmp_path: Path, header: str) -> Path:
    path = tmp_path / "case.d1"
    path.write_text(header.strip() + "\n" + MODULE)
    return path


def run_all(path: Path) -> None:
    runs = run_lines(path)
    check_file(path, runs)
    for run in runs:
        execute(run)


def test_a_passing_file_passes(tmp_path: Path) -> None:
    run_all(
        lit_file(
            tmp_path,
            """
// RUN: d1c opt %s -p canonicalize | filecheck %s
// RUN: not d1c opt %s -p frobnicate 2>&1 | filecheck %s --check-prefix ERR
// CHECK: exp %x
// CHECK-NOT: tanh
// ERR: <pipeline>:1:1: error: unknown pass 'frobnicate'
""",
        )
    )


def test_a_check_that_does_not_match_names_the_file_and_line(tmp_path: Path) -> None:
    path = lit_file(tmp_path, "// RUN: d1c opt %s -p canonicalize | filecheck %s\n// CHECK: tanh")
    with pytest.raises(LitFailure) as err:
        run_all(path)
    message = str(err.value)
    assert "case.d1:1: RUN: d1c opt %s -p canonicalize | filecheck %s" in message
    assert "case.d1:2: error:" in message and "tanh" in message
    assert "its input (the output of command 1)" in message and "exp %x" in message


def test_not_requires_a_failure_and_a_clean_one(tmp_path: Path) -> None:
    path = lit_file(tmp_path, "// RUN: not d1c opt %s -p canonicalize")
    with pytest.raises(LitFailure, match="exited 0 but was expected to fail"):
        run_all(path)


def test_a_crash_fails_even_under_not(tmp_path: Path, monkeypatch) -> None:
    from d1c.passes.canonicalize import Canonicalize

    def crash(self, module, ctx):
        raise RuntimeError("a bug in the pass")

    monkeypatch.setattr(Canonicalize, "apply", crash)
    path = lit_file(tmp_path, "// RUN: not d1c opt %s -p canonicalize")
    with pytest.raises(LitFailure, match="crashed") as err:
        run_all(path)
    assert "RuntimeError: a bug in the pass" in str(err.value)


def test_a_failing_command_without_not_fails(tmp_path: Path) -> None:
    path = lit_file(tmp_path, "// RUN: d1c opt %s -p frobnicate")
    with pytest.raises(LitFailure, match="unknown pass 'frobnicate'"):
        run_all(path)


def test_stderr_reaches_the_pipe_only_with_2_and_1(tmp_path: Path) -> None:
    path = lit_file(tmp_path, "// RUN: not d1c opt %s -p frobnicate | filecheck %s\n// CHECK: x")
    with pytest.raises(LitFailure, match="is empty"):
        run_all(path)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("d1c opt %s -p canonicalize > out.d1", "unsupported shell syntax '>'"),
        ("d1c opt %s -p canonicalize && true", "unsupported shell syntax '&&'"),
        ("d1c opt %s -p canonicalize | sed s/a/b/", "'sed' is not a command of RUN lines"),
        ("d1c opt %t -p canonicalize", "unknown substitution '%t'"),
        ("d1c opt %s -p canonicalize --no-such-flag", "not a valid d1c command line"),
        ("filecheck %s", "filecheck needs the output of a command"),
    ],
)
def test_unsupported_run_lines_are_errors_of_the_test_file(
    tmp_path: Path, run: str, message: str
) -> None:
    path = lit_file(tmp_path, f"// RUN: {run}")
    with pytest.raises(LitError, match=re.escape(message)):
        run_all(path)


@pytest.mark.parametrize("line", ["// CHECKK: exp", "// CHECK-NXT: exp", "// ERR: exp"])
def test_check_lines_no_run_line_reads_are_errors(tmp_path: Path, line: str) -> None:
    path = lit_file(tmp_path, f"// RUN: d1c opt %s -p canonicalize | filecheck %s\n{line}")
    with pytest.raises(LitError, match="read by no RUN line"):
        check_file(path, run_lines(path))


def test_run_lines_continue_after_a_backslash(tmp_path: Path) -> None:
    path = lit_file(tmp_path, "// RUN: d1c opt %s \\\n// RUN:   -p canonicalize\n// CHECK: exp")
    (run,) = run_lines(path)
    assert run.line == 1 and run.text == "d1c opt %s -p canonicalize"
