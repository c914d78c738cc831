"""The student trainer and every method: `aar_methods`, the library the sandboxed kernel runs.

The code lives in `sandbox/kernel/aar_methods/` (in a wheel, `aar/_sandbox_policy/kernel/`),
next to `aar_kernel.py`: the kernel imports it from its read-only mount, and the bench loads
the same files by path here, so `aar bench run` and a session's experiments run one
implementation. It imports nothing of aar (aar does not exist inside the kernel).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import aar

LIBRARY_NAME = "aar_methods"


def library_dir() -> Path:
    """The library's directory: the wheel's packaged policy, else the checkout's `sandbox/`."""
    package = Path(aar.__file__).resolve().parent
    packaged = package / "_sandbox_policy" / "kernel" / LIBRARY_NAME
    return packaged if packaged.is_dir() else package.parent / "sandbox" / "kernel" / LIBRARY_NAME


@cache
def library() -> ModuleType:
    """The `aar_methods` package, imported once per process from `library_dir()`."""
    root = library_dir()
    loaded = sys.modules.get(LIBRARY_NAME)
    if loaded is not None:
        if Path(loaded.__file__ or "").resolve().parent != root:
            raise ImportError(f"{LIBRARY_NAME} is already imported from {loaded.__file__}")
        return loaded
    spec = importlib.util.spec_from_file_location(
        LIBRARY_NAME, root / "__init__.py", submodule_search_locations=[str(root)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {LIBRARY_NAME} from {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[LIBRARY_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[LIBRARY_NAME]
        raise
    return module


def library_sha256() -> str:
    """The digest an experiment script pins (`aar_methods.require`), computed by the
    library's own `_digest.py` (standard library only: torch is not imported for it)."""
    root = library_dir()
    spec = importlib.util.spec_from_file_location("_aar_methods_digest", root / "_digest.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {root / '_digest.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.library_sha256(root))


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
