"""A test module imports no other test module: what two of them share lives in
tests/support.py or in a conftest.py fixture (importing a test module runs its tests twice
and ties one file's helpers to another's tests)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.rglob("test_*.py"))


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(TESTS)))
def test_imports_no_other_test_module(module: Path):
    test_modules = {name for name in imported_modules(module)
                    if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")}
    assert not test_modules, f"{module.name} imports {sorted(test_modules)}: move what they share to tests/support.py"
