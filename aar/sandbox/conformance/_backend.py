"""A backend as the battery sees it: how to open a started sandbox, and how to prove that
nothing it started outlives it. The local backends are described here; a remote backend
(Jupyter Kernel Gateway, a Dask worker) adds its own `Backend` and runs the same cases."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aar.sandbox._environment import Sandbox, sandbox_backend
from aar.sandbox._kernel import KernelSandbox
from aar.sandbox._policy import SandboxPolicy, load_policy
from aar.sandbox._pool import KernelPool
from aar.sandbox._procfs import processes_of_uid

Opener = Callable[[Path, Path | None, SandboxPolicy], contextlib.AbstractContextManager[Sandbox]]


@dataclass(frozen=True)
class Backend:
    """One backend under test."""

    name: str
    open: Opener
    """(experiment dir, task dir or None, policy) -> a context manager of a started sandbox."""
    process_probe: Callable[[Sandbox], Callable[[], list[int]]]
    """Given an open sandbox: a function listing its host processes now (also after close)."""
    isolating: bool = True
    """False for development backends: the escape and leakage cases do not apply to them."""


def battery_policy(**limits: float) -> SandboxPolicy:
    """The shipped policy (not the user's settings) with small, fast limits."""
    base = dict(
        memory_mb=1536,
        cpu_seconds=300,
        max_processes=64,
        max_file_mb=16,
        scratch_mb=64,
        tmp_mb=32,
        cell_timeout_s=15,
        interrupt_grace_s=1.5,
        experiment_timeout_s=600,
        output_limit_chars=20_000,
        watchdog_interval_s=0.1,
    )
    return load_policy(use_settings=False).with_limits(**(base | limits))


def _registered(name: str) -> Opener:
    @contextlib.contextmanager
    def open_(exp: Path, task: Path | None, policy: SandboxPolicy) -> Iterator[Sandbox]:
        with sandbox_backend(name)(exp, task_dir=task, policy=policy) as sandbox:
            yield sandbox

    return open_


@contextlib.contextmanager
def _pooled(exp: Path, task: Path | None, policy: SandboxPolicy) -> Iterator[Sandbox]:
    """A kernel started ahead of time and handed to the experiment (renamed slot)."""
    with KernelPool(1, root=exp.parent.parent / ".pool", policy=policy) as pool:
        pool.wait_ready(60)
        if pool.ready != 1:
            raise RuntimeError(f"the pool did not start a kernel: {pool.last_error}")
        with pool.acquire(exp, task_dir=task) as sandbox:
            yield sandbox


def _uid_processes(sandbox: Sandbox) -> Callable[[], list[int]]:
    uid = sandbox.uid if isinstance(sandbox, KernelSandbox) else None
    return (lambda: processes_of_uid(uid)) if uid is not None else (lambda: [])


def local_backends() -> list[Backend]:
    """The backends of this machine: bubblewrap cold and from the warm pool, and `none`."""
    return [
        Backend("bwrap", _registered("bwrap"), _uid_processes),
        Backend("bwrap-pool", _pooled, _uid_processes),
        Backend("none", _registered("none"), _uid_processes, isolating=False),
    ]
