"""domain/ stays pure: allowed imports only, no clock, no I/O, no float arithmetic."""
import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
MODULES = sorted(DOMAIN.glob("*.py"))

ALLOWED_ROOTS = {
    "__future__", "collections", "dataclasses", "datetime", "decimal", "enum", "functools", "re",
    "types", "typing", "unicodedata",
    "holidays", "pendulum", "stdnum", "schwifty", "email_validator",
    "domain",
}
CLOCK_CALLS = {"today", "now", "utcnow", "utcfromtimestamp", "fromtimestamp", "time", "monotonic"}
IO_CALLS = {"open", "print", "input", "float", "eval", "exec"}


def test_domain_has_modules():
    names = {m.stem for m in MODULES}
    assert {"money", "identifiers", "calendar", "deliberation", "acts", "convention", "lifecycle",
            "refund", "obligations", "indicators", "errors"} <= names


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_imports_clock_and_io(module):
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]} if node.level == 0 else {"domain"}
        else:
            roots = set()
        assert roots <= ALLOWED_ROOTS, f"{module.name}: imports {roots - ALLOWED_ROOTS}"
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                assert func.attr not in CLOCK_CALLS, f"{module.name}:{node.lineno} reads the clock"
            if isinstance(func, ast.Name):
                assert func.id not in IO_CALLS, f"{module.name}:{node.lineno} calls {func.id}()"
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            pytest.fail(f"{module.name}:{node.lineno} float literal {node.value}")
