"""Imported by Python at kernel start (it is on PYTHONPATH): clear errors for hidden data.

scikit-learn's bundled data sets are masked in the kernel (sandbox/policy.toml [python]
hide), so its loaders would fail with a bare FileNotFoundError deep inside scikit-learn. This
hook replaces them, when `sklearn.datasets` is imported, with functions that say why. It is
for the reader of the error only: the data are gone whether or not the hook runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any

_BUNDLED = (
    "load_breast_cancer",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_linnerud",
    "load_sample_image",
    "load_sample_images",
    "load_wine",
)


class HiddenDataError(PermissionError):
    """A data set that could rebuild ground truth is hidden in the sandbox."""


def _refuse(name: str, why: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise HiddenDataError(
            f"aar sandbox: sklearn.datasets.{name}() is not available here: {why}. "
            "Use aar_kernel.load_task() for the task's public data."
        )

    refused.__name__ = name
    return refused


def _patch(module: Any) -> None:
    for name in _BUNDLED:
        if hasattr(module, name):
            setattr(
                module,
                name,
                _refuse(
                    name,
                    "scikit-learn's bundled data sets are hidden "
                    "because they hold the labels of aar's tasks",
                ),
            )
    for name in dir(module):
        if name.startswith("fetch_"):
            setattr(module, name, _refuse(name, "the sandbox has no network"))


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "sklearn.datasets":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


sys.meta_path.insert(0, _Finder())
