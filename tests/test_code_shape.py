"""The code stays readable at once: functions under ~60 lines of code (docstrings aside),
classes under ~20 methods, modules under ~400 lines, unless the module's or class's docstring
says why it is longer.

The reason must be written where a reader meets the size: a sentence in the docstring that
starts with "Long because" (module) or "Many methods because" (class).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aar"
MAX_FUNCTION_LINES = 60
MAX_METHODS = 20
MAX_MODULE_LINES = 400


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A long docstring that says why is welcome: only code counts against a function."""
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_module_size(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.count("\n")
    doc = ast.get_docstring(tree) or ""
    assert lines <= MAX_MODULE_LINES or "Long because" in doc, (
        f"{_name(path)} has {lines} lines: split it, or say why in its docstring "
        "('Long because ...')"
    )
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            methods = [
                b for b in node.body if isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            reason = "Many methods because" in (ast.get_docstring(node) or "")
            if len(methods) > MAX_METHODS and not reason:
                problems.append(f"class {node.name} has {len(methods)} methods")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1 - _docstring_lines(node)
            if length > MAX_FUNCTION_LINES:
                problems.append(f"function {node.name} has {length} lines")
    assert not problems, f"{_name(path)}: " + "; ".join(problems)
