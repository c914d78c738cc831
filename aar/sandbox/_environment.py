"""The `Sandbox` interface every backend implements, and the registry of backends by name.

A backend is checked by one conformance battery (`aar.sandbox.conformance`): escapes, label
recovery and basic behaviour. A new backend (a remote Jupyter Kernel Gateway, a Dask worker)
registers a factory here and must pass that battery unchanged.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from aar.sandbox._errors import SandboxUsageError
from aar.sandbox._policy import SandboxLimits, SandboxPolicy
from aar.sandbox._result import CellResult

MAX_READ_BYTES = 256 * 1024 * 1024
"""Largest file `read_file` returns by default (predictions are far smaller)."""


class Sandbox(ABC):
    """An isolated place where one experiment's untrusted code runs, cell by cell.

    Lifecycle: construct, `start()` (or `with`), `run_cell` any number of times, `close()`.
    State lives in one kernel; `restart()` loses it and keeps the files.

    Files: *scratch* is the experiment's only writable directory (`/scratch` inside, also the
    cell's working directory); `read_file`, `write_file` and `list_files` move bytes between
    the host and scratch, by paths relative to it. The task's public files are read-only at
    `/task`. Links inside scratch are never followed by the host.

    Limits (`limits`), all enforced by every isolating backend: memory (address space; a bomb
    is `oom`), CPU seconds for the kernel's life (exceeded: `killed`, kernel restarted),
    processes, largest file, total scratch size (exceeded: the sandbox closes for good), a
    wall clock per cell (`timeout`: interrupted, or killed and restarted if it ignores the
    interrupt) and per experiment (exceeded: closes for good), captured output characters and
    rich outputs per cell (`truncated`). No network, no host secrets in the environment.

    Errors: `start` raises `SandboxUnavailableError` when isolation cannot be set up (fail
    closed, never a silent fallback); file methods raise `SandboxUsageError` for paths that
    leave scratch, links, missing or oversized files. `run_cell` never raises for anything the
    cell does: what happened comes back as a `CellResult`.
    """

    backend: str = ""
    """The registry name of this backend."""

    @property
    @abstractmethod
    def unsafe(self) -> bool:
        """True when nothing is isolated (development only); every result is marked."""

    @property
    @abstractmethod
    def limits(self) -> SandboxLimits:
        """The limits this sandbox enforces."""

    @property
    @abstractmethod
    def experiment_dir(self) -> Path:
        """Host directory of the experiment's record (the notebook, a copy of its files)."""

    @property
    @abstractmethod
    def notebook_path(self) -> Path:
        """The `.ipynb` every executed cell is written to, with its outputs."""

    @property
    @abstractmethod
    def closed_reason(self) -> str | None:
        """Why the sandbox ended for good (an experiment-wide limit, or `close`), else None."""

    @abstractmethod
    def start(self) -> Self:
        """Start the kernel; ready to run cells when it returns."""

    @abstractmethod
    def run_cell(self, code: str, timeout: float | None = None) -> CellResult:
        """Execute `code`; `timeout` (default `limits.cell_timeout_s`) caps its wall clock."""

    @abstractmethod
    def read_file(self, path: str, *, max_bytes: int = MAX_READ_BYTES) -> bytes:
        """The bytes of a regular file in scratch."""

    @abstractmethod
    def write_file(self, path: str, data: bytes | str) -> None:
        """Create or replace a file in scratch (text is written as UTF-8)."""

    @abstractmethod
    def list_files(self) -> dict[str, int]:
        """Every regular file in scratch: relative path -> size in bytes."""

    @abstractmethod
    def restart(self) -> None:
        """A fresh kernel on the same files (in-memory state is lost)."""

    @abstractmethod
    def close(self) -> None:
        """End the sandbox and everything it started; idempotent."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SandboxFactory(Protocol):
    """Makes an unstarted sandbox for an experiment directory."""

    def __call__(
        self,
        experiment_dir: str | os.PathLike[str],
        *,
        task_dir: str | os.PathLike[str] | None = None,
        policy: SandboxPolicy | None = None,
    ) -> Sandbox: ...


_BACKENDS: dict[str, SandboxFactory] = {}


def register_sandbox(name: str) -> Callable[[SandboxFactory], SandboxFactory]:
    """Register a backend factory under `name` (a decorator)."""

    def decorate(factory: SandboxFactory) -> SandboxFactory:
        if name in _BACKENDS and _BACKENDS[name] is not factory:
            raise SandboxUsageError(f"a sandbox backend named {name!r} is already registered")
        _BACKENDS[name] = factory
        return factory

    return decorate


def sandbox_backends() -> list[str]:
    """Names of the registered backends."""
    return sorted(_BACKENDS)


def sandbox_backend(name: str) -> SandboxFactory:
    """The factory registered as `name`; an unknown name lists the known ones."""
    try:
        return _BACKENDS[name]
    except KeyError:
        known = ", ".join(sandbox_backends()) or "none"
        raise SandboxUsageError(f"unknown sandbox backend {name!r} (known: {known})") from None
