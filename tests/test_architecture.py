"""The package layout is the architecture (README "How it is built"): dependencies point one way.

Checked two ways: statically, on the import statements of every module (any import, also inside
functions), and dynamically, on what a fresh interpreter has loaded after importing a layer.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"d1c": "d1c", "isa": "d1c.isa", "passes": "d1c.passes", "codegen": "d1c.codegen"}
FOLDERS["runtime"] = "d1c.runtime"
LAYERS = ("isa", "passes", "codegen", "runtime", "ir", "frontend", "interp", "accuracy")
LAYERS += ("fuzz", "report", "target", "cli", "testing")
BASE = ("d1c.errors", "d1c.progress", "d1c.timing")  # what every layer reports through
API = ("d1c", "d1c.api", "d1c.driver", "d1c.dynamo", "d1c.ladder")  # the public face, on top

# layer -> the layers it may import (besides itself)
ALLOWED = {
    "isa": set(),
    "base": {"isa"},
    "ir": {"base", "isa"},
    "target": {"base", "isa"},
    "runtime": {"base", "isa", "target"},
    "interp": {"base", "isa", "ir"},
    "accuracy": {"base", "isa", "ir", "interp"},
    "codegen": {"base", "isa", "ir", "target"},
    "frontend": {"base", "isa", "ir"},
    "testing": {"base", "isa", "ir"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, pkg in FOLDERS.items():
        for p in (ROOT / folder).rglob("*.py"):
            parts = [x for x in p.relative_to(ROOT / folder).with_suffix("").parts]
            parts = [x for x in parts if x != "__init__"]
            if folder == "d1c" and parts and parts[0] in FOLDERS:
                continue
            out[".".join([pkg, *parts])] = p
    return out


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    if module in API:
        return "api"
    if module == "d1c.__main__":
        return "cli"
    part = module.split(".")[1]
    return part if part in LAYERS else "api"


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("d1c"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found.update(n for n in names if n in modules)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in _imports(path, modules):
            if layer(target) != layer(name):
                edges[layer(name)].add(layer(target))
    return edges


def test_lower_layers_import_only_what_is_below_them(graph) -> None:
    for lay, allowed in ALLOWED.items():
        assert graph.get(lay, set()) <= allowed, (lay, graph.get(lay, set()) - allowed)


def test_the_layers_have_no_cycle(graph) -> None:
    def visit(node: str, path: list[str]) -> None:
        assert node not in path, f"import cycle: {' -> '.join([*path, node])}"
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])

    for node in sorted(graph):
        visit(node, [])


def _loaded(module: str) -> list[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_importing_the_isa_loads_nothing_else_of_d1c_and_no_torch() -> None:
    mods = _loaded("d1c.isa.asm, d1c.isa.disasm, d1c.isa.d1x, d1c.isa.semantics, d1c.isa.fpmath")
    ours = [m for m in mods if m.startswith("d1c")]
    assert all(m == "d1c" or m.startswith("d1c.isa") for m in ours), ours
    assert not any(m == "torch" or m.startswith("torch.") for m in mods)


def test_the_simulator_loads_no_compiler_and_no_torch() -> None:
    mods = _loaded("d1c.runtime.sim, d1c.runtime.host")
    assert not [m for m in mods if m.startswith(("d1c.passes", "d1c.frontend", "d1c.codegen"))]
    assert not [m for m in mods if m.startswith(("d1c.ir", "d1c.interp", "d1c.accuracy"))]
    assert "torch" not in mods


def test_the_ir_loads_no_passes_and_no_frontend() -> None:
    mods = _loaded("d1c.ir")
    assert not [m for m in mods if m.startswith(("d1c.passes", "d1c.frontend", "d1c.codegen"))]
    assert "torch" not in mods
