"""The lit-style test format of ``tests/lit`` (see its README.md): RUN lines, run in-process.

A ``.d1`` test file holds ``// RUN:`` lines, each a pipeline of ``d1c`` and ``filecheck``
commands, and the ``// CHECK:`` lines that ``filecheck`` matches. ``d1c`` runs in this process
through click's ``CliRunner`` (no interpreter start-up per command) and ``filecheck`` through the
Python API of the ``filecheck`` package, so a RUN line costs what its passes cost.

The shell syntax is deliberately small: ``cmd | cmd``, a ``not`` before a command that must exit
non-zero (cleanly: a Python exception is a crash and fails the test either way), ``2>&1`` to pass
a command's error output down the pipe with its output, and the substitutions ``%s`` (this file),
``%S`` (its folder) and ``%%``. Anything else is an error of the test file, not a silent no-op.
"""

from __future__ import annotations

import io
import re
import shlex
import traceback
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner
from filecheck.finput import FInput
from filecheck.matcher import Matcher
from filecheck.options import parse_argv_options
from filecheck.parser import Parser

COMMANDS = ("d1c", "filecheck")
RUN = re.compile(r"^\s*//\s*RUN:(.*)$")
XFAIL = re.compile(r"^\s*//\s*XFAIL:(.*)$")
# `// WORD:` or `// WORD-NEXT:` etc.: a FileCheck directive (or a typo of one)
DIRECTIVE = re.compile(
    r"^\s*//\s*([A-Z][A-Z0-9_]*(?:-[A-Z0-9_]+)*?)"
    r"(?:-(?:DAG|COUNT-\d+|NOT|EMPTY|NEXT|SAME|LABEL))?(?:\{LITERAL\})?:"
)
SHELL_OPERATOR = re.compile(r"\d*[<>].*|.*[;&|`].*|.*\$\(.*")
SUBSTITUTION = re.compile(r"%(.)")
COMMENT_PREFIXES = ("RUN", "COM", "XFAIL")
USAGE_ERROR = 2  # click's exit status for a bad command line (d1c errors exit 1)
DUMP_LINES = 200  # lines of a failing command's input shown in the report


class LitError(Exception):
    """The test file is malformed (a RUN line with unsupported syntax, an unused prefix...)."""


class LitFailure(Exception):
    """A RUN line ran and failed; the message says which command and why."""


@dataclass(frozen=True)
class RunLine:
    path: Path
    line: int  # 1-based line of the first `// RUN:` of the command
    text: str  # the command as written (continuation lines joined)

    @property
    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]  # substituted, without `not` and `2>&1`
    expect_failure: bool  # `not cmd`
    merge_stderr: bool  # `cmd 2>&1`

    def __str__(self) -> str:
        words = (("not",) if self.expect_failure else ()) + self.argv
        return shlex.join(words) + (" 2>&1" if self.merge_stderr else "")


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str  # what the next command of the pipe reads
    stderr: str


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter reports)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# Reading a test file


def run_lines(path: Path) -> list[RunLine]:
    """The RUN lines of ``path``; a RUN line ending in ``\\`` continues on the next one."""
    runs: list[RunLine] = []
    pending: tuple[int, str] | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = RUN.match(line)
        if m is None:
            if pending is not None:
                raise LitError(f"{_shown(path)}:{pending[0]}: RUN line continued by a non-RUN line")
            continue
        start, text = pending if pending is not None else (number, "")
        body = m.group(1).strip()
        if body.endswith("\\"):
            pending = (start, text + body[:-1].rstrip() + " ")
            continue
        pending = None
        runs.append(RunLine(path, start, (text + body).strip()))
    if pending is not None:
        raise LitError(f"{_shown(path)}:{pending[0]}: RUN line continued past the end of the file")
    return runs


def xfail_reason(path: Path) -> str | None:
    """The reason of the file's ``// XFAIL:`` line (a known bug: every RUN line must fail)."""
    reasons = [m.group(1).strip() for m in map(XFAIL.match, path.read_text().splitlines()) if m]
    return " ".join(reasons) or None


def check_file(path: Path, runs: list[RunLine]) -> None:
    """File-level rules: some RUN line, and every ``// PREFIX:`` directive read by a RUN line
    (a CHECK line no RUN line reads, or a misspelt one, could never fail)."""
    if not runs:
        raise LitError(f"{_shown(path)}: no `// RUN:` line")
    used = set(COMMENT_PREFIXES)
    for run in runs:
        for cmd in parse_command(run):
            if cmd.argv[0] == "filecheck":
                used.update(filecheck_options(cmd, run).check_prefixes)
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = DIRECTIVE.match(line)
        if m is not None and m.group(1) not in used:
            raise LitError(
                f"{_shown(path)}:{number}: `{m.group(1)}` lines are read by no RUN line "
                f"(prefixes read: {', '.join(sorted(used))})"
            )


def parse_command(run: RunLine) -> list[Command]:
    """The commands of a RUN line's pipe, substituted; a LitError for anything unsupported."""
    try:
        words = shlex.split(run.text)
    except ValueError as err:
        raise LitError(f"{run.where}: cannot split the RUN line: {err}") from None
    stages: list[list[str]] = [[]]
    for word in words:
        if word == "|":
            stages.append([])
        else:
            stages[-1].append(word)
    return [_command(words, run) for words in stages]


def _command(words: list[str], run: RunLine) -> Command:
    expect_failure = bool(words) and words[0] == "not"
    words = words[1:] if expect_failure else words
    merge = "2>&1" in words
    words = [w for w in words if w != "2>&1"]
    for w in words:
        if SHELL_OPERATOR.fullmatch(w):
            raise LitError(
                f"{run.where}: unsupported shell syntax '{w}' (RUN lines support `|`, `not` "
                "and `2>&1`)"
            )
    if not words or words[0] not in COMMANDS:
        got = f"'{words[0]}'" if words else "an empty command"
        raise LitError(f"{run.where}: {got} is not a command of RUN lines ({', '.join(COMMANDS)})")
    return Command(tuple(_substitute(w, run) for w in words), expect_failure, merge)


def _substitute(word: str, run: RunLine) -> str:
    path = Path(_shown(run.path))
    table = {"s": str(path), "S": str(path.parent), "%": "%"}

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in table:
            raise LitError(f"{run.where}: unknown substitution '%{m.group(1)}' (%s, %S, %%)")
        return table[m.group(1)]

    return SUBSTITUTION.sub(one, word)


def filecheck_options(cmd: Command, run: RunLine):
    """The ``filecheck`` command line parsed as the filecheck CLI parses it."""
    try:
        return parse_argv_options(list(cmd.argv))
    except RuntimeError as err:
        raise LitError(f"{run.where}: bad filecheck arguments: {err}") from None


# ---------------------------------------------------------------------------------------------
# Running a RUN line


def execute(run: RunLine) -> None:
    """Run the pipe; a LitFailure names the failing command, its reason and its input."""
    commands = parse_command(run)
    if commands[0].argv[0] == "filecheck":
        raise LitError(f"{run.where}: filecheck needs the output of a command piped into it")
    stdin = ""
    for i, cmd in enumerate(commands):
        out = _run_d1c(cmd, run) if cmd.argv[0] == "d1c" else _run_filecheck(cmd, run, stdin)
        if (out.status != 0) != cmd.expect_failure:
            raise LitFailure(_report(run, i, cmd, out, stdin))
        stdin = out.stdout


def _run_d1c(cmd: Command, run: RunLine) -> Outcome:
    from d1c.cli import main  # here, not at the top: collecting the files needs no compiler

    runner = CliRunner()
    result = runner.invoke(main, list(cmd.argv[1:]), env={"D1C_DEBUG": None})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(*result.exc_info))
        raise LitFailure(f"`{cmd}` crashed (an exception, not a d1c error):\n{crash}")
    if result.exit_code == USAGE_ERROR:
        raise LitError(f"{run.where}: `{cmd}` is not a valid d1c command line:\n{result.stderr}")
    stdout = result.output if cmd.merge_stderr else result.stdout
    return Outcome(result.exit_code, stdout, result.stderr)


def _run_filecheck(cmd: Command, run: RunLine, stdin: str) -> Outcome:
    opts = filecheck_options(cmd, run)
    if opts.input_file != "-":
        raise LitError(f"{run.where}: filecheck reads the pipe; drop --input-file")
    text = FInput("<stdin>", FInput.canonicalize_line_ends(stdin))
    matcher = Matcher(opts, text, Parser.from_opts(opts))
    matcher.stderr = io.StringIO()
    status = matcher.run()
    return Outcome(status, "", matcher.stderr.getvalue())


def _report(run: RunLine, index: int, cmd: Command, out: Outcome, stdin: str) -> str:
    lines = [f"{run.where}: RUN: {run.text}"]
    if cmd.expect_failure:
        lines.append(f"command {index + 1}, `{cmd}`, exited 0 but was expected to fail")
    else:
        lines.append(f"command {index + 1}, `{cmd}`, failed (exit status {out.status}):")
    lines.append(out.stderr.rstrip("\n"))
    if index > 0:
        numbered = stdin.splitlines()
        shown = [f"{n:4} | {text}" for n, text in enumerate(numbered[:DUMP_LINES], 1)]
        more = len(numbered) - DUMP_LINES
        lines.append(f"--- its input (the output of command {index}):")
        lines += shown + ([f"     ... {more} more lines"] if more > 0 else [])
    return "\n".join(line for line in lines if line)
