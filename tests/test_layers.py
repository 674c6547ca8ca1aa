"""The import map of docs/ARCHITECTURE.md, kept true: imports point one way, and nothing cycles.

Every `stylectl` import in cli/ and pipelines/ is read from the source, at module level and
inside functions alike (a lazy import is still a dependency); imports under `if TYPE_CHECKING:`
are left out, as they never run. Every module has a layer (LAYERS, top down: cli -> studies,
stylize -> fanout -> runner -> stages -> the library's rooms, report down to the modules that import no
other). A module may import its own layer or lower ones, never a higher one; and no set of
modules may import each other in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"cli": "stylectl.cli", "pipelines": "stylectl.pipelines"}
# Top down. A module takes the rank of the longest name here that is the module or a package holding it;
# the bare `pipelines` names its __init__ only, so a new module fails the test until it is placed.
LAYERS = {f"stylectl.{name}": rank for rank, names in (
    (12, "cli"),
    (11, "pipelines.studies pipelines.stylize"),
    (10, "pipelines.fanout"),
    (9, "pipelines.runner"),
    (8, "pipelines.stages"),
    # the library
    (7, "pipelines.report"),
    (6, "pipelines.export"),
    (5, "pipelines.quant"),
    (4, "pipelines.train pipelines.readers pipelines.config.loading"),
    (3, "pipelines.models pipelines.context"),
    (2, "pipelines.config pipelines.measure"),
    (1, "pipelines.artifacts pipelines.data pipelines.images"),
    (0, "pipelines pipelines.errors pipelines.quiet pipelines.progress pipelines.distributed pipelines.assets "
        "pipelines.figures pipelines.export.formats"),
) for name in names.split()}
ROOT_PACKAGE = "stylectl.pipelines"


def _modules() -> dict[str, Path]:
    """Module name -> source file, for every module of cli/ and pipelines/."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The stylectl modules `path` imports (`from package import module` counts as the module)."""
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node of the tree except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from (inner for branch in node.orelse for inner in [branch, *_runtime_nodes(branch)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _layer(module: str) -> int | None:
    names = [name for name in LAYERS if module == name or (name != ROOT_PACKAGE and module.startswith(name + "."))]
    return LAYERS[max(names, key=len)] if names else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_the_known_imports():
    graph = _graph()
    assert "stylectl.pipelines.stages" in graph["stylectl.pipelines.runner"]
    assert "stylectl.pipelines.train.losses" in graph["stylectl.pipelines.train.distill_loss"]
    assert "stylectl.pipelines.runner" in graph["stylectl.pipelines.studies.sweep"]


def test_every_module_has_a_layer():
    assert [module for module in _graph() if _layer(module) is None] == []


def test_a_module_takes_the_layer_of_its_closest_name():
    assert _layer("stylectl.pipelines.export.onnx") == LAYERS["stylectl.pipelines.export"]
    assert _layer("stylectl.pipelines.export.formats") == LAYERS["stylectl.pipelines.export.formats"]
    assert _layer("stylectl.pipelines.config.run") == LAYERS["stylectl.pipelines.config"]
    assert _layer("stylectl.pipelines.unplaced") is None


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_imports_point_down_the_layers():
    upward = [f"{source} (layer {_layer(source)}) imports {target} (layer {_layer(target)})"
              for source, targets in _graph().items() for target in targets if _layer(target) > _layer(source)]
    assert upward == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
