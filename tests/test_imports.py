"""The house rules of ``infopo/``: no import cycle among its modules, and no module longer than 400 lines.

The graph is read from the source with :mod:`ast`, not from ``sys.modules``: every ``import`` and ``from ... import``
counts, wherever it stands (inside a function, under ``if TYPE_CHECKING:``), relative ones resolved against the
importing module's package. An import names the most specific module of ``infopo`` that exists: ``from infopo.x
import y`` is ``infopo.x.y`` when that is a module, else ``infopo.x``; a package's ``__init__.py`` is the module
``infopo.pkg``. Names loaded lazily by string (``infopo.lazy``) are not imports and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "infopo"
MAX_LINES = 400


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root`` by its dotted name (``__init__.py`` as the package's own name)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def most_specific(name: str, modules) -> str | None:
    """``name`` or its longest prefix that is a module of ``modules``; None outside them."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def resolve_relative(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of ``from <node> import ...`` written in ``module``."""
    if not node.level:
        return node.module
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 >= len(package):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(module: str, path: Path, modules) -> set[str]:
    """The modules of ``modules`` that the import statements of ``path`` (module ``module``) name, wherever they
    stand: ``import a.b`` names ``a.b`` (or its longest prefix that is a module); ``from a import b`` names ``a.b``
    when that is a module, else ``a``."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(most_specific(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = resolve_relative(node, module, is_package)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                names.add(submodule if submodule in modules else most_specific(source, modules))
    names.discard(None)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = module_names(root)
    return {module: imported_modules(module, path, modules) for module, path in modules.items()}


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit); each component sorted, components in discovery order."""
    index, lowlink, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = lowlink[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                lowlink[work[-1][0]] = min(lowlink[work[-1][0]], lowlink[node])
            if lowlink[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the first module of ``component`` (inside it), as a path that returns to its start."""
    start, members = component[0], set(component)
    parents, frontier = {start: None}, [start]
    while frontier:  # breadth first: the shortest way back to ``start``
        following = []
        for node in frontier:
            for successor in sorted(graph.get(node, ())):
                if successor == start:
                    path = [node]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if successor in members and successor not in parents:
                    parents[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{component} is not a cycle")


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module, or of a module importing itself."""
    return [
        a_cycle(graph, component)
        for component in strongly_connected_components(graph)
        if len(component) > 1 or component[0] in graph.get(component[0], ())
    ]


# ---- the finder itself ----------------------------------------------------------------------------------------


def test_the_cycle_finder_finds_known_cycles():
    graph = {
        "a": {"b"},
        "b": {"c", "d"},
        "c": {"a"},  # a -> b -> c -> a
        "d": {"e"},
        "e": set(),
        "f": {"f"},  # a self-import
        "g": {"h", "a"},
        "h": {"g"},  # g <-> h, leading into the first cycle
    }
    cycles = import_cycles(graph)
    assert sorted(map(tuple, cycles)) == [("a", "b", "c", "a"), ("f", "f"), ("g", "h", "g")]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []
    chain = {f"m{i}": {f"m{i + 1}"} for i in range(5000)}  # deep: no recursion limit
    assert import_cycles(chain) == []
    assert len(import_cycles({**chain, "m5000": {"m0"}})[0]) == 5002


def test_the_graph_reads_every_kind_of_import(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg.lazy import thing\n",
        "lazy.py": "",
        "plain.py": "import os\nimport pkg.sub.deep\n",
        "relative.py": "from . import plain\nfrom .sub import deep\n",
        "hidden.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.plain import x\n"
            "def f():\n    from pkg.sub.deep import y\n"
        ),
        "package_name.py": "from pkg.sub import helper\n",  # a name of pkg/sub/__init__.py: the package
        "sub/__init__.py": "helper = 1\n",
        "sub/deep.py": "from .. import relative\nfrom ..lazy import thing\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    graph = import_graph(root)
    assert graph == {
        "pkg": {"pkg.lazy"},
        "pkg.lazy": set(),
        "pkg.plain": {"pkg.sub.deep"},
        "pkg.relative": {"pkg.plain", "pkg.sub.deep"},
        "pkg.hidden": {"pkg.plain", "pkg.sub.deep"},
        "pkg.package_name": {"pkg.sub"},
        "pkg.sub": set(),
        "pkg.sub.deep": {"pkg.relative", "pkg.lazy"},
    }
    assert import_cycles(graph) == [["pkg.plain", "pkg.sub.deep", "pkg.relative", "pkg.plain"]]


# ---- the package ------------------------------------------------------------------------------------------------


def test_infopo_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert "infopo.trainers" in graph and "infopo.igpo.trainer" in graph["infopo.cli.igpo"]
    cycles = import_cycles(graph)
    assert not cycles, "import cycles in infopo/:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("limit", [MAX_LINES])
def test_no_module_is_longer_than_the_limit(limit):
    lengths = {path: len(path.read_text().splitlines()) for path in module_names(PACKAGE).values()}
    assert lengths, f"no modules found under {PACKAGE}"
    offenders = sorted(
        ((count, path.relative_to(PACKAGE.parent)) for path, count in lengths.items() if count > limit), reverse=True
    )
    assert not offenders, f"modules over {limit} lines (split them along a natural seam):\n" + "\n".join(
        f"  {path}: {count}" for count, path in offenders
    )
