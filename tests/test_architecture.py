"""The layout rules of README's architecture section, checked on the source.

Data flows one way (a package never imports one above it), and no package imports another's
private modules or names (no `aar.<package>._<module>` from outside `aar/<package>/`), so the
private modules can change freely behind each package's `__init__`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import aar

ROOT = Path(aar.__file__).parent
SHARED = {"config", "errors", "files", "hashing", "jsonl", "keys", "net", "procs", "text"}
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
    "team": {"bench", "scorer", "sandbox", "memory", "review", "session", "agent"},
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


def _imported_names(path: Path) -> list[str]:
    """Every dotted `aar...` name a file imports, at any depth: `from aar.x import _y` gives
    `aar.x._y`, so a private name is caught however it is spelled."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [m for m in found if m.startswith("aar.")]


def _package_of(path: Path) -> str:
    """`aar/<name>/...` or `aar/<name>.py` -> name; the CLI is `cli.py` with `_cli/`."""
    name = path.relative_to(ROOT).parts[0].removesuffix(".py")
    return "cli" if name in ("cli", "_cli") else name


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


def test_no_package_imports_another_packages_private_modules() -> None:
    files = sorted(ROOT.rglob("*.py"))
    private = [
        f"{path.relative_to(ROOT.parent)} imports {name}"
        for path in files
        for name in _imported_names(path)
        if _package_of(ROOT / name.split(".")[1]) != _package_of(path)
        and any(part.startswith("_") for part in name.split(".")[2:])
    ]
    assert not private, "\n".join(private)
    assert len(files) > 50  # the modules were found
