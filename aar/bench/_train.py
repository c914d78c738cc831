"""The student trainer and every method: `aar_methods`, the library the sandboxed kernel runs.

The code lives in `sandbox/kernel/aar_methods/` (in a wheel, `aar/_sandbox_policy/kernel/`),
next to `aar_kernel.py`: the kernel imports it from its read-only mount, and the bench loads
the same files by path here, so `aar bench run` and a session's experiments run one
implementation. It imports nothing of aar (aar does not exist inside the kernel).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import aar

LIBRARY_NAME = "aar_methods"
RECIPES_NAME = "aar_recipes"


def library_dir() -> Path:
    """The library's directory: the wheel's packaged policy, else the checkout's `sandbox/`."""
    package = Path(aar.__file__).resolve().parent
    packaged = package / "_sandbox_policy" / "kernel" / LIBRARY_NAME
    return packaged if packaged.is_dir() else package.parent / "sandbox" / "kernel" / LIBRARY_NAME


@cache
def library() -> ModuleType:
    """The `aar_methods` package (the trainer and the frozen families), imported once per
    process from `library_dir()`."""
    return _load(LIBRARY_NAME)


@cache
def recipes() -> ModuleType:
    """The `aar_recipes` package (the method space: `MethodConfig`, `train_config`), imported
    once per process next to `library()`, which it imports."""
    library()
    return _load(RECIPES_NAME)


@cache
def method_space() -> ModuleType:
    """`aar_recipes._config` alone (`MethodConfig` and the family configurations): pydantic
    only, so the CLI checks a configuration before torch is imported. It is registered under
    its package name, so `recipes()` later imports this very module (one `MethodConfig`)."""
    name = f"{RECIPES_NAME}._config"
    with _IMPORTING:
        loaded = sys.modules.get(name)
        if loaded is not None:
            return loaded
        path = library_dir().parent / RECIPES_NAME / "_config.py"
        return _exec_module(name, path, register=True)


_IMPORTING = threading.RLock()
"""A package is in `sys.modules` before its code has run: without the lock, a second thread
(the scorer service scores requests in a thread pool) took a half-imported `aar_methods`."""


def _load(name: str) -> ModuleType:
    with _IMPORTING:
        root = library_dir().parent / name
        loaded = sys.modules.get(name)
        if loaded is not None:
            if Path(loaded.__file__ or "").resolve().parent != root:
                raise ImportError(f"{name} is already imported from {loaded.__file__}")
            return loaded
        return _exec_module(name, root / "__init__.py", register=True, package=root)


def _exec_module(
    name: str, path: Path, *, register: bool, package: Path | None = None
) -> ModuleType:
    """Import the file `path` as module `name` (a package when `package` is its folder),
    registered in `sys.modules` when `register` (and unregistered if it fails)."""
    locations = None if package is None else [str(package)]
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name} from {path}")
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if register:
            del sys.modules[name]
        raise
    return module


def library_sha256() -> str:
    """The digest an experiment script pins (`aar_methods.require`), computed by the
    library's own `_digest.py` (standard library only: torch is not imported for it)."""
    root = library_dir()
    module = _exec_module("_aar_methods_digest", root / "_digest.py", register=False)
    return str(module.library_sha256(root))


def recipes_sha256() -> str:
    """The digest a method-space script pins (`aar_recipes.require`): both kernel packages,
    computed by `aar_recipes/_digest.py` (standard library only)."""
    kernel = library_dir().parent
    path = kernel / RECIPES_NAME / "_digest.py"
    return str(_exec_module("_aar_recipes_digest", path, register=False).recipes_sha256(kernel))


def resolve_device(device: str) -> Any:
    """'auto' is CUDA when available, else CPU; 'cpu' / 'cuda' / 'cuda:N' as given."""
    return library().resolve_device(device)


def __getattr__(name: str) -> Any:
    """`Batch`, `fit_predict`, `train_batch`, ... of the library (for tools and tests)."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(library(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
