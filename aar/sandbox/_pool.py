"""`KernelPool`: sandboxes started ahead of time, so a new experiment gets a kernel at once."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

from aar.sandbox._errors import SandboxUsageError
from aar.sandbox._kernel import KernelSandbox
from aar.sandbox._layout import copy_task
from aar.sandbox._policy import SandboxPolicy, load_policy
from aar.sandbox._procfs import process_alive


class KernelPool:
    """Keeps `size` started sandboxes waiting; `acquire` hands one to an experiment.

    A waiting kernel is bound to a slot directory under `root`. `acquire` renames the slot to
    the experiment directory: bind mounts follow the directory, not its name, so the kernel's
    `/scratch` and `/task` become the experiment's without a restart. `root` must be on the
    same filesystem as experiment directories (default: `<runs_dir>/.pool`); otherwise, or
    when no kernel is ready in time, `acquire` starts one cold. Kernels are never reused
    between experiments: each is closed with its experiment and the pool starts a fresh one.
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        root: str | os.PathLike[str] | None = None,
        policy: SandboxPolicy | None = None,
    ) -> None:
        self.policy = policy or load_policy()
        self.size = self.policy.pool_size if size is None else size
        if root is None:
            from aar.config import get_settings

            root = get_settings().runs_dir / ".pool"
        self.root = Path(root).resolve()
        self.last_error: str | None = None
        """Why the pool last failed to start a kernel (acquire then starts cold)."""
        self._ready: list[KernelSandbox] = []
        self._starting = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._fill, name="aar-kernel-pool", daemon=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def ready(self) -> int:
        """Kernels started and waiting."""
        with self._cond:
            return len(self._ready)

    def start(self) -> Self:
        """Start filling the pool in the background (after clearing dead pools' slots)."""
        self.root.mkdir(parents=True, exist_ok=True)
        _remove_orphaned_slots(self.root)
        self._thread.start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until the pool is full (or failing); True when full."""
        with self._cond:
            self._cond.wait_for(
                lambda: len(self._ready) >= self.size or self.last_error or self._closed, timeout
            )
            return len(self._ready) >= self.size

    def _fill(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closed or len(self._ready) + self._starting < self.size
                )
                if self._closed:
                    return
                self._starting += 1
            sandbox = None
            try:
                sandbox = KernelSandbox(
                    self.root / f"slot-{os.getpid()}-{uuid.uuid4().hex[:12]}", policy=self.policy
                ).start(clock=False)
            except Exception as exc:  # reported through last_error; acquire then starts cold
                self.last_error = str(exc)
            with self._cond:
                self._starting -= 1
                if sandbox is not None and not self._closed:
                    self._ready.append(sandbox)
                    sandbox = None
                self._cond.notify_all()
                failed = self.last_error is not None and not self._ready
            if sandbox is not None:
                _discard(sandbox)
            if failed:
                return

    def acquire(
        self,
        experiment_dir: str | os.PathLike[str],
        *,
        task_dir: str | os.PathLike[str] | None = None,
        wait_s: float = 5.0,
    ) -> KernelSandbox:
        """A started sandbox for `experiment_dir` (must not exist or be empty); close it after.

        `task_dir`'s files are linked (or copied) into `<experiment_dir>/task`, read-only in
        the kernel at `/task`.
        """
        target = Path(experiment_dir).resolve()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise SandboxUsageError(
                f"experiment directory {target} already exists and is not empty"
            )
        with self._cond:
            if not self._ready and self._starting and not self._closed:
                self._cond.wait_for(lambda: bool(self._ready) or not self._starting, wait_s)
            sandbox = self._ready.pop(0) if self._ready else None
            self._cond.notify_all()
        if sandbox is not None and not sandbox.alive:  # died while waiting (e.g. CPU limit)
            _discard(sandbox)
            sandbox = None
        if sandbox is not None:
            try:
                _adopt(sandbox, target, task_dir)
                return sandbox
            except OSError:  # another filesystem: fall back to a cold start
                _discard(sandbox)
        return KernelSandbox(target, task_dir=task_dir, policy=self.policy).start()

    def close(self) -> None:
        """Close every waiting kernel and remove the pool's slot directories."""
        with self._cond:
            self._closed = True
            waiting, self._ready = self._ready, []
            self._cond.notify_all()
        for sandbox in waiting:
            _discard(sandbox)
        if self._thread.is_alive():
            self._thread.join(timeout=30)


def _adopt(sandbox: KernelSandbox, target: Path, task_dir: str | os.PathLike[str] | None) -> None:
    sandbox.relocate(target)
    if task_dir is not None:
        copy_task(Path(task_dir), sandbox.task_dir)
    sandbox.begin_experiment()


def _discard(sandbox: KernelSandbox) -> None:
    sandbox.close()
    with contextlib.suppress(OSError):
        shutil.rmtree(sandbox.experiment_dir)


def _remove_orphaned_slots(root: Path) -> None:
    """Remove slot directories whose pool process is gone (it crashed before `close`).

    A slot is named `slot-<pid>-<random>` after the process that made it; its kernel died with
    that process (bubblewrap's `--die-with-parent`), so only the directory is left. Slots of
    live processes, and names that do not parse, are left alone.
    """
    for slot in root.glob("slot-*-*"):
        pid = slot.name.split("-")[1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(slot, ignore_errors=True)
