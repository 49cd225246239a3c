"""The import rules of design.md, checked on the source: the library stays a library."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CORE = ROOT / "core"
EDGES = ("worker", "tasks", "api", "simulator", "cli")
FRAMEWORKS = ("celery", "kombu", "fastapi", "starlette", "uvicorn", "flower", "click")
IO_LIBRARIES = ("httpx", "redis")
PURE = (
    "core.models",
    "core.errors",
    "core.clock",
    "core.mimecast.paging",
    "core.mimecast.classify",
    "core.mimecast.streams",
    "core.mimecast.windows",
    "core.mimecast.records",
    "core.mimecast.pacing",
    "core.sinks.contract",
    "core.sinks.encoding",
    "core.sinks.specs",
    "core.sinks.routing",
)
PURE_PACKAGES = ("core.engine", "core.lifecycle", "core.processing")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> list[str]:
    return sorted(module_name(path) for path in CORE.rglob("*.py"))


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module a core module names in an import statement, anywhere in its body."""
    base = ROOT.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


def closure(module: str) -> frozenset[str]:
    """The module's imports, following imports of core modules transitively."""
    known = set(core_modules())
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        for name in imports_of(current):
            if name in seen:
                continue
            seen.add(name)
            if name in known:
                todo.append(name)
    return frozenset(seen)


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("module", core_modules())
def test_core_imports_no_framework_and_nothing_from_the_edges(module: str) -> None:
    offending = {name for name in imports_of(module) if top(name) in EDGES + FRAMEWORKS}
    assert not offending, f"{module} imports {sorted(offending)}"


def pure_modules() -> list[str]:
    present = set(core_modules())
    packaged = [name for name in present if name.startswith(PURE_PACKAGES)]
    return sorted({name for name in PURE if name in present} | set(packaged))


@pytest.mark.parametrize("module", pure_modules())
def test_pure_modules_reach_neither_httpx_nor_redis(module: str) -> None:
    offending = {name for name in closure(module) if top(name) in IO_LIBRARIES}
    assert not offending, f"{module} reaches {sorted(offending)}"


def test_no_module_is_a_grab_bag() -> None:
    assert not list(CORE.rglob("utils.py"))
    assert not list(CORE.rglob("helpers.py"))


@pytest.mark.parametrize("path", sorted((ROOT / "simulator").glob("*.py")), ids=lambda path: path.name)
def test_the_simulator_shares_no_code_with_the_client(path: Path) -> None:
    """A misreading of the Mimecast API must not hide on both sides at once."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    assert not {name for name in names if top(name) in ("core", "worker", "tasks", "api")}
