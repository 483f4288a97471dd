"""The package's import graph: one direction, no cycles, lazy imports included.

Run as a script to print the graph (``python tests/test_architecture.py``): every kanlab module,
its layer, and the kanlab modules it imports (at module level or inside functions).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kanlab"

# Lowest first. A module may import modules of its own layer or of layers below it, never above;
# and the graph has no cycle (so within a layer the order is one-way too).
LAYERS: List[tuple[str, List[str]]] = [
    ("foundation", ["validation", "preprocessing", "timelimit", "distributed", "datasets"]),
    ("core math", ["native", "splines", "localbasis", "kernels", "edgewise", "bases", "bases_family", "symbolic_lib", "optim"]),
    ("modules", ["layer", "symbolic_layer", "network", "nn"]),
    ("operations", ["edges", "attribution", "prune", "symbolic", "formula", "recovery", "plot", "hypothesis", "checkpoint",
                    "pykan_checkpoint", "history", "loop", "starts", "regularizers", "fused", "train", "autobasis", "supervised", "transfer", "structure"]),
    ("facade", ["model"]),
    ("applications", ["estimators", "compare", "pde", "ode", "timeseries", "demo", "cli", "utils",
                      "__main__", "__init__"]),
]


def module_name(path: Path) -> str:
    """``kanlab/datasets/core.py`` -> ``datasets.core``; ``kanlab/__init__.py`` -> ``__init__``."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    base = current.split(".") if is_package or current == "__init__" else current.split(".")[:-1]
    if current == "__init__":
        base = []
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(p for p in base + ([target] if target else []) if p)


def imports_of(path: Path) -> Set[str]:
    """kanlab modules imported anywhere in ``path`` (top level, functions, ``TYPE_CHECKING`` blocks
    excluded because they never run)."""
    tree = ast.parse(path.read_text(), str(path))
    current = module_name(path)
    is_package = path.name == "__init__.py"
    type_only: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: Set[str] = set()
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        names: List[str] = []
        if isinstance(node, ast.Import):
            names = [a.name[len("kanlab."):] for a in node.names if a.name.startswith("kanlab.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = _resolve(current, is_package, node.level, node.module)
            elif node.module and (node.module == "kanlab" or node.module.startswith("kanlab.")):
                mod = node.module[len("kanlab."):] if node.module != "kanlab" else ""
            else:
                continue
            # `from . import x` / `from .datasets import core` may name submodules
            subs = [f"{mod}.{a.name}" if mod else a.name for a in node.names]
            names = [s for s in subs if s in known] or ([mod] if mod else [])
            if not mod and not any(s in known for s in subs):
                names = ["__init__"]
        for name in names:
            while name and name not in known:  # `datasets.core.x` -> `datasets.core`
                name = name.rpartition(".")[0]
            if name and name != current:
                found.add(name)
    return found


def module_graph() -> Dict[str, Set[str]]:
    """Every kanlab module -> the kanlab modules it imports."""
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for rank, (_, members) in enumerate(LAYERS):
        if top in members or module in members:
            return rank
    raise KeyError(module)


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]``."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_every_module_has_a_layer():
    missing = [m for m in module_graph() if not _has_layer(m)]
    assert not missing, f"add these modules to LAYERS in tests/test_architecture.py: {missing}"


def _has_layer(module: str) -> bool:
    try:
        layer_of(module)
        return True
    except KeyError:
        return False


def test_no_import_cycle():
    cycle = find_cycle(module_graph())
    assert not cycle, "import cycle (lazy imports count): " + " -> ".join(cycle)


def test_imports_point_down():
    wrong = [(m, d) for m, deps in module_graph().items() for d in deps
             if _has_layer(m) and _has_layer(d) and layer_of(d) > layer_of(m)]
    assert not wrong, "imports from a higher layer: " + ", ".join(f"{m} -> {d}" for m, d in wrong)


def test_nothing_below_the_facade_imports_it():
    facade = layer_of("model")
    users = [m for m, deps in module_graph().items() if "model" in deps and layer_of(m) <= facade]
    assert not users, f"below the facade but importing it: {users}"


@pytest.mark.parametrize("source, expected", [
    ("from . import splines\n", {"splines"}),
    ("def f():\n    from .model import KAN\n", {"model"}),
    ("import kanlab.layer\n", {"layer"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .model import KAN\n", set()),
])
def test_graph_sees_lazy_and_absolute_imports(tmp_path, source, expected, monkeypatch):
    fake = tmp_path / "kanlab"
    fake.mkdir()
    for name in ("__init__", "splines", "model", "layer", "probe"):
        (fake / f"{name}.py").write_text("")
    (fake / "probe.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert imports_of(fake / "probe.py") == expected


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


if __name__ == "__main__":
    graph = module_graph()
    for m in sorted(graph, key=lambda m: (layer_of(m) if _has_layer(m) else 99, m)):
        layer = LAYERS[layer_of(m)][0] if _has_layer(m) else "?"
        print(f"{layer:>12}  {m:<22} -> {', '.join(sorted(graph[m])) or '-'}")
    cycle = find_cycle(graph)
    print("cycle:", " -> ".join(cycle) if cycle else "none")
