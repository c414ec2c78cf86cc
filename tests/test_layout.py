"""The package layout holds: no import cycle (imports inside functions and under TYPE_CHECKING
included: a module that imports another lazily still depends on it), and the torch-free packages
never import a torch-side package, torch or torchvision when they are imported."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cnnlab"
TORCH_FREE = ("cnnlab.util", "cnnlab.spec", "cnnlab.shape", "cnnlab.compare", "cnnlab.commands", "cnnlab.rundir",
              "cnnlab.api", "cnnlab.export", "cnnlab.cli", "cnnlab.errors", "cnnlab.registry", "cnnlab.lazy",
              "cnnlab.__main__")
TORCH_SIDE = ("cnnlab.models", "cnnlab.data", "cnnlab.train", "cnnlab.run", "torch", "torchvision")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_time_imports(tree: ast.Module, name: str, is_package: bool, inside_functions: bool = False) -> set[str]:
    """Modules imported when the module itself is imported: every import outside function bodies,
    including those under `if TYPE_CHECKING:` (they are cycles for a type checker too); with
    `inside_functions`, the imports inside functions as well."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and not inside_functions:
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base]).strip(".")
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)  # `from pkg import module`
            visit(child)

    visit(tree)
    return found


def graph() -> dict[str, set[str]]:
    """Module → the cnnlab modules it imports, wherever in it."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        imported = import_time_imports(ast.parse(path.read_text()), name, path.name == "__init__.py", True)
        edges[name] = {m for m in imported if m in modules and m != name}
    return edges


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_torch_free_packages_import_no_torch_side_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if not name.startswith(TORCH_FREE):
            continue
        for imported in import_time_imports(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            if imported.startswith(TORCH_SIDE) and (imported in TORCH_SIDE or imported.startswith(
                    tuple(f"{p}." for p in TORCH_SIDE))):
                offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_every_package_says_what_it_owns_and_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.parent.name}/__init__.py: say what the package owns and may import"


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The checker itself works: two modules importing each other (one only for typing) are a cycle."""
    fake = tmp_path / "cnnlab"
    (fake / "a").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "a" / "__init__.py").write_text("")
    (fake / "a" / "x.py").write_text("from cnnlab.a.y import Y\n")
    (fake / "a" / "y.py").write_text("from typing import TYPE_CHECKING\n"
                                     "if TYPE_CHECKING:\n    from cnnlab.a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycles()
    (fake / "a" / "y.py").write_text("def later():\n    from cnnlab.a.x import X\n")  # lazily, inside a function
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycles()
