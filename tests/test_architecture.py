"""The layout rules of README's architecture section, checked on the source.

Data flows one way (a package never imports one above it), and the CLI imports only public
names (no `aar.<package>._<module>`), so the private modules can change freely.
"""

from __future__ import annotations

import ast
from pathlib import Path

import aar

ROOT = Path(aar.__file__).parent
SHARED = {"config", "errors", "files", "hashing", "jsonl", "keys", "net", "text"}
# Each package, and the packages it may import (besides itself and the shared helpers).
MAY_IMPORT = {
    "bench": set(),
    "scorer": {"bench"},
    "sandbox": {"bench"},
    "memory": set(),
    "review": {"memory"},
    "session": {"bench", "scorer", "sandbox", "memory", "review"},
    "agent": {"bench", "scorer", "sandbox", "memory", "review", "session"},
    "web": {"memory", "review", "session"},
}


def _imports(path: Path) -> list[str]:
    """Every `aar...` module a file imports, at any depth (lazy imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [m for m in found if m == "aar" or m.startswith("aar.")]


def test_packages_import_only_the_layers_below_them() -> None:
    wrong = []
    for package, allowed in MAY_IMPORT.items():
        for path in (ROOT / package).rglob("*.py"):
            for module in _imports(path):
                if module == "aar":
                    continue  # the root package, for its location (`aar.__file__`)
                if module.split(".")[1] not in {package, *allowed, *SHARED}:
                    wrong.append(f"{path.relative_to(ROOT.parent)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_cli_imports_only_public_names() -> None:
    files = [ROOT / "cli.py", *(ROOT / "_cli").glob("*.py")]
    private = [
        f"{path.relative_to(ROOT.parent)} imports {module}"
        for path in files
        for module in _imports(path)
        if any(part.startswith("_") for part in module.split(".")[2:])
    ]
    assert not private, "\n".join(private)
    assert len(files) > 5  # the CLI modules were found
