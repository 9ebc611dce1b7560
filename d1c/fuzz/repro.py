"""Reproducers of ``d1c fuzz`` failures: one folder per failure with everything a replay needs.

    OUT/001-ladder/
        case.d1        the graph IR of the (shrunk) example, constants included
        inputs.npz     its inputs by argument name, so `d1c verify --inputs` replays them exactly
        target.toml    the random target (absent when the run used a shipped target)
        model.py       the torch model, for examples drawn as torch recipes
        mutant.d1 | bad.d1x | prog.s   the mutated input of a robustness property
        README.txt     the property, its signature, the details, and the commands to replay it

The commands run inside the folder, e.g. ``d1c verify case.d1 --target target.toml --dtype bf16
--inputs inputs.npz --determinism``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from d1c import driver
from d1c.fuzz.checks import Case, Failure
from d1c.ir import print_module
from d1c.testing.targets import TargetSpec


def verify_commands(case: Case, eager: bool = False) -> list[str]:
    """The ``d1c verify`` commands that replay a ladder or compile failure of ``case`` (a
    failure against torch eager replays from the model file only)."""
    opts = f"--target {case.target_arg} --dtype {case.draw.dtype}"
    cmds = []
    if case.recipe is not None:
        cmds.append(f"d1c verify model.py {opts} --determinism")
    if case.module is not None and not eager:
        cmds.append(f"d1c verify case.d1 {opts} --inputs inputs.npz --determinism")
    return cmds


def case_files(case: Case) -> dict[str, bytes]:
    """The files that describe ``case``: IR, inputs, target and torch model."""
    files: dict[str, bytes] = {}
    if case.module is not None:
        files["case.d1"] = print_module(case.module).encode()
    if isinstance(case.draw.target, TargetSpec):
        files["target.toml"] = case.draw.target.toml().encode()
    if case.recipe is not None:
        files["model.py"] = case.recipe.source().encode()
    return files


def replay_commands(case: Case, failure: Failure) -> list[str]:
    """The commands (run in the reproducer folder) that replay ``failure``."""
    eager = "torch eager" in failure.signature and case.recipe is not None
    return list(failure.commands) or verify_commands(case, eager)


def save_reproducer(out: Path, index: int, case: Case, failure: Failure, note: str) -> Path:
    """Write the reproducer folder ``OUT/NNN-PROP`` and return it."""
    return write_reproducer(out, index, failure.prop, reproducer_files(case, failure, note))


def reproducer_files(case: Case, failure: Failure, note: str) -> dict[str, bytes]:
    """Every file of the reproducer of ``failure`` (name -> bytes), README.txt included."""
    files = {**case_files(case), **dict(failure.files)}
    if case.module is not None:
        buf = io.BytesIO()
        driver.write_inputs(buf, case.module, case.inputs)
        files["inputs.npz"] = buf.getvalue()
    files["README.txt"] = readme(failure, replay_commands(case, failure), note).encode()
    return files


def write_reproducer(out: Path, index: int, prop: str, files: dict[str, bytes]) -> Path:
    """Write ``files`` into the folder ``OUT/NNN-PROP`` and return it."""
    folder = out / f"{index:03d}-{re.sub(r'[^a-z0-9]+', '-', prop)}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def readme(failure: Failure, commands: list[str], note: str) -> str:
    lines = [
        f"d1c fuzz reproducer: property '{failure.prop}' failed",
        f"signature: {failure.signature}",
        note,
        "",
        "replay (in this folder):",
        *(f"    {c}" for c in commands),
        "",
        "details:",
        failure.detail.rstrip(),
        "",
    ]
    return "\n".join(lines)
