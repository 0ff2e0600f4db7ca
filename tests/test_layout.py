"""The package's shape: one declared public namespace, no import cycles, small rooms."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import descend as ds

SRC = Path(ds.__file__).parent
# The engine's modules: what a run goes through, from inputs to Result.
ENGINE = sorted([*SRC.glob("_*.py"), *(SRC / "_engine").glob("*.py"), *(SRC / "_fit").glob("*.py")])
ENGINE = [p for p in ENGINE if p.name != "__main__.py"]


def _type_checking_names() -> set[str]:
    """Names imported under ``if TYPE_CHECKING:`` in descend/__init__.py."""
    tree = ast.parse((SRC / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return {
                alias.asname or alias.name
                for imp in node.body
                if isinstance(imp, ast.ImportFrom)
                for alias in imp.names
            }
    raise AssertionError("no TYPE_CHECKING block in descend/__init__.py")


def test_the_public_namespace_is_declared_once():
    lazy = set(ds._EXPORTS) | set(ds._SUBMODULES)
    assert set(ds.__all__) == lazy | {"__version__"}
    assert _type_checking_names() == lazy
    assert len(ds.__all__) == len(set(ds.__all__))
    assert sorted(dir(ds)) == sorted(ds.__all__)


@pytest.mark.parametrize("name", sorted(set(ds.__all__) - {"__version__"}))
def test_each_public_name_comes_from_the_module_the_table_names(name):
    value = getattr(ds, name)
    if name in ds._SUBMODULES:
        assert value is importlib.import_module(f"descend.{name}")
    else:
        assert value is getattr(importlib.import_module(f"descend.{ds._EXPORTS[name]}"), name)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """descend modules that ``path`` imports anywhere (function-level imports too)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("descend"):
                target = node.module
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("descend")}
    return {m for m in out if m in modules and m != here}


def test_no_import_cycles():
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {m: _imports(p, set(paths)) for m, p in paths.items()}
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m) :] + [m]))
        if m in done:
            return
        for n in sorted(graph[m]):
            visit(n, path + [m])
        done.add(m)

    for m in sorted(graph):
        visit(m, [])


def test_the_private_modules_stay_private():
    for path in ENGINE:
        assert path.name.startswith("_") or path.parent.name in ("_engine", "_fit"), path
    public = {ds._EXPORTS[n] for n in ds._EXPORTS}
    assert "_minimize" in public and "_batch" in public  # re-exported, not imported by users


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(SRC)))
def test_engine_rooms_are_small(path):
    """A room reads top to bottom in a sitting; a function does one thing."""
    source = path.read_text()
    assert source.count("\n") <= 500
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                lines -= node.body[0].end_lineno - node.body[0].lineno + 1
            assert lines <= 90, f"{node.name} has {lines} lines besides its docstring"
