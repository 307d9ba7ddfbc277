"""The dependency rule of the design card: only ``guard`` does I/O and it is the only package that
imports the others; ``classifiers``, ``watermark`` and ``generator`` never import ``guard``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IO = {"requests", "urllib.request", "httpx", "socket", "sqlite3"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["classifiers", "watermark", "generator"])
def test_when_a_pure_package_is_scanned_then_it_never_imports_guard_or_network(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        imports = _imports(path)
        assert not any(name == "guard" or name.startswith("guard.") for name in imports), path
        assert not imports & FORBIDDEN_IO, f"{path} imports {imports & FORBIDDEN_IO}"
