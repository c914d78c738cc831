"""`KernelSandbox`: the local backends, an ipykernel under bubblewrap (`bwrap`) or bare (`none`).

The pieces: `ExperimentDir` (host files), a `Launch` (how the process starts), a
`KernelProcess` (Jupyter messaging), a watchdog (experiment-wide limits) and the notebook.
This class decides what a cell's outcome means and when the kernel is restarted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

from aar.sandbox._environment import MAX_READ_BYTES, Sandbox, register_sandbox
from aar.sandbox._errors import SandboxUsageError
from aar.sandbox._isolation import UidClaim, preflight
from aar.sandbox._jupyter import Collector, Execution, KernelProcess
from aar.sandbox._launch import bwrap_launch, host_launch
from aar.sandbox._layout import ExperimentDir
from aar.sandbox._notebook import NotebookLog
from aar.sandbox._policy import SandboxLimits, SandboxPolicy, load_policy
from aar.sandbox._procfs import processes_of_uid
from aar.sandbox._result import CellError, CellResult, CellStatus

_SIGNALS = {
    signal.SIGXCPU: "CPU time limit reached (SIGXCPU)",
    signal.SIGKILL: "killed (SIGKILL)",
    signal.SIGXFSZ: "file size limit reached (SIGXFSZ)",
    signal.SIGSEGV: "crashed (SIGSEGV)",
    signal.SIGABRT: "aborted (SIGABRT)",
}


class KernelSandbox(Sandbox):
    """An isolated Jupyter kernel bound to one experiment directory on this machine.

    Layout of `experiment_dir`: `scratch/` (`/scratch` inside), `task/` (`task_dir`'s files,
    hard-linked or copied, read-only at `/task`) and `notebook.ipynb`. The policy's
    `isolation` picks the launch: `bwrap` (default) or `none` (development, unsafe).
    See `Sandbox` for the contract, the limits and the errors.

    Many methods because it implements every member of the `Sandbox` contract (13, most of
    them one-line properties) and keeps the kernel's life (launch, watch, kill, restart)
    beside the state those share; the kernel process and the notebook are classes of their
    own.
    """

    def __init__(
        self,
        experiment_dir: str | os.PathLike[str],
        *,
        task_dir: str | os.PathLike[str] | None = None,
        policy: SandboxPolicy | None = None,
        notebook_name: str = "notebook.ipynb",
    ) -> None:
        self.policy = policy or load_policy()
        self.backend = self.policy.isolation
        self.layout = ExperimentDir(experiment_dir, notebook_name)
        self._task_src = Path(task_dir).resolve() if task_dir is not None else None
        self._claim: UidClaim | None = None
        self._work: Path | None = None
        self._kernel: KernelProcess | None = None
        self._fatal: str | None = None
        self._deadline = float("inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._notebook: NotebookLog | None = None
        self.started_s: float | None = None
        """Seconds the last (re)start took until the kernel answered."""

    # -- the Sandbox properties ------------------------------------------------------------
    @property
    def unsafe(self) -> bool:
        return self.policy.unsafe

    @property
    def limits(self) -> SandboxLimits:
        return self.policy.limits

    @property
    def experiment_dir(self) -> Path:
        return self.layout.root

    @property
    def notebook_path(self) -> Path:
        return self.layout.notebook

    @property
    def closed_reason(self) -> str | None:
        return self._fatal

    @property
    def scratch_dir(self) -> Path:
        """Host path of the kernel's writable scratch directory."""
        return self.layout.scratch

    @property
    def task_dir(self) -> Path:
        """Host path of the task's public files (read-only at `/task` inside)."""
        return self.layout.task

    @property
    def uid(self) -> int | None:
        """The unprivileged uid the kernel runs as (None when aar is not root)."""
        return self._claim.uid if self._claim else None

    @property
    def alive(self) -> bool:
        """True while the kernel process runs."""
        return self._kernel is not None and self._kernel.alive

    # -- files -----------------------------------------------------------------------------
    def read_file(self, path: str, *, max_bytes: int = MAX_READ_BYTES) -> bytes:
        return self.layout.read(path, max_bytes)

    def write_file(self, path: str, data: bytes | str) -> None:
        self.layout.write(path, data.encode() if isinstance(data, str) else data)
        if self.uid is not None:
            with contextlib.suppress(OSError):
                os.lchown(self.layout.scratch / path, self.uid, self.uid)

    def list_files(self) -> dict[str, int]:
        return self.layout.list()

    def scratch_file(self, relative: str) -> Path:
        """Host path of a regular file in scratch, checked now (prefer `read_file`: the
        kernel may swap the file for a link after this check)."""
        self.layout.read(relative, MAX_READ_BYTES)
        return self.layout.scratch / relative

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, *, clock: bool = True) -> Self:
        """Prepare the directories, claim a uid and start the kernel; ready when it returns.

        `clock=False` leaves the experiment's wall clock stopped until `begin_experiment`
        (the pool's waiting kernels).
        """
        preflight(self.policy)
        self.layout.prepare(self._task_src)
        if not self.unsafe and os.geteuid() == 0:
            self._claim = UidClaim(self.policy.uid_range)
            self.layout.give(self._claim.uid, self._claim.uid)
        self._work = Path(tempfile.mkdtemp(prefix="aar-sbx-"))  # short: socket paths
        try:
            self._launch()
        except BaseException:
            self.close()
            raise
        display = str(self.policy.kernel_spec.get("display_name", "aar sandbox"))
        self._notebook = NotebookLog(self.notebook_path, unsafe=self.unsafe, display_name=display)
        if clock:
            self.begin_experiment()
        self._watchdog = threading.Thread(target=self._watch, name="aar-sandbox-watch", daemon=True)
        self._watchdog.start()
        return self

    def relocate(self, target: Path) -> None:
        """Move the experiment directory while the kernel runs (the pool hands kernels out)."""
        self.layout.relocate(target)
        if self._notebook is not None:
            self._notebook.path = self.notebook_path

    def begin_experiment(self) -> None:
        """Start the experiment's wall clock (the pool calls this again when handing out)."""
        self._deadline = time.monotonic() + self.limits.experiment_timeout_s

    def _launch(self) -> None:
        assert self._work is not None
        kernel = KernelProcess(self._work, dict(self.policy.kernel_spec))
        kernel.ipc_dir.mkdir(exist_ok=True)
        if self.unsafe:
            launch = host_launch(self.policy, self.layout, self._work)
        else:
            launch = bwrap_launch(self.policy, self.layout, kernel.ipc_dir, self._work, self.uid)
        self._kernel = kernel
        self.started_s = kernel.start(launch)

    def _kill(self) -> int | None:
        """Kill the kernel and wait until none of the sandbox uid's processes is left."""
        code = self._kernel.kill() if self._kernel is not None else None
        self._kernel = None
        if self.uid is not None:  # the PID namespace tears down asynchronously
            end = time.monotonic() + 5
            while processes_of_uid(self.uid) and time.monotonic() < end:
                time.sleep(0.02)
        return code

    def restart(self) -> None:
        self._kill()
        if self._fatal is not None:
            raise SandboxUsageError(f"sandbox is closed: {self._fatal}")
        self._launch()

    def save_notebook(self) -> Path:
        """Write the notebook now (it is otherwise written in the background and at close)."""
        if self._notebook is not None:
            self._notebook.save()
        return self.notebook_path

    def close(self) -> None:
        self._stop.set()
        self._kill()
        if self._notebook is not None:
            self._notebook.close()
            self._notebook = None
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=5)
        if self._claim is not None:
            with contextlib.suppress(OSError):
                self.layout.give(os.geteuid(), os.getegid())
            self._claim.release()
            self._claim = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        if self._fatal is None:
            self._fatal = "sandbox closed"

    def _watch(self) -> None:
        """Experiment-wide limits: the wall clock and scratch's size end the sandbox."""
        lim = self.limits
        while not self._stop.wait(lim.watchdog_interval_s):
            reason = None
            if time.monotonic() > self._deadline:
                reason = f"experiment wall-clock limit of {lim.experiment_timeout_s:g} s reached"
            elif (used := self.layout.used_bytes()) > lim.scratch_mb * 1024 * 1024:
                reason = (
                    f"scratch limit of {lim.scratch_mb} MiB exceeded "
                    f"({used / 2**20:.0f} MiB written)"
                )
            if reason is not None:
                self._fatal = reason
                proc = self._kernel.process if self._kernel is not None else None
                if proc is not None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                return

    # -- execution -------------------------------------------------------------------------
    def run_cell(self, code: str, timeout: float | None = None) -> CellResult:
        """Execute `code` and return what happened; never hangs past `timeout` + the grace.

        `timeout` defaults to the policy's `cell_timeout_s` and is capped by what is left of
        the experiment's wall clock. The cell and its outputs are appended to the notebook.
        """
        with self._lock:
            result = self._run(code, timeout)
        result.unsafe = self.unsafe
        if self.unsafe:
            note = "UNSAFE: run without isolation"
            result.message = f"{note}; {result.message}" if result.message else note
        if self._notebook is not None:
            self._notebook.add(code, result)
        return result

    def _run(self, code: str, timeout: float | None) -> CellResult:
        if self._fatal is not None or self._kernel is None:
            return CellResult(status="killed", message=f"sandbox closed: {self._fatal}")
        lim = self.limits
        budget = min(timeout or lim.cell_timeout_s, self._deadline - time.monotonic())
        if budget <= 0:
            self._fatal = f"experiment wall-clock limit of {lim.experiment_timeout_s:g} s reached"
            self._kill()
            return CellResult(status="killed", message=f"sandbox closed: {self._fatal}")
        collector = Collector(lim.output_limit_chars, lim.max_display_items)
        cpu_before = self._kernel.cpu_seconds(self.uid)
        run = self._kernel.execute(code, collector, budget, lim.interrupt_grace_s)
        cpu_after = self._kernel.cpu_seconds(self.uid) if self._kernel is not None else None
        if cpu_before is not None and cpu_after is not None:
            run.result.cpu_s = max(cpu_after - cpu_before, 0.0)
        if run.unresponsive:
            self._kill()
            why = f"cell exceeded {budget:.3g} s and ignored the interrupt; kernel killed"
            return self._after_death(run, status="timeout", why=why)
        if run.died:
            return self._after_death(run, status="killed", why=_death(self._kill()))
        return self._classify(run, budget)

    def _classify(self, run: Execution, budget: float) -> CellResult:
        result = run.result
        result.peak_memory_mb = self._kernel.peak_memory_mb(self.uid) if self._kernel else None
        if run.interrupted:
            result.status = "timeout"
            result.message = _join(result.message, f"cell exceeded {budget:.3g} s; interrupted")
        elif result.error is not None and _is_oom(result.error):
            result.status = "oom"
            result.message = _join(
                result.message,
                f"memory limit of {self.limits.memory_mb} MiB (address space) reached",
            )
        return result

    def _after_death(self, run: Execution, *, status: CellStatus, why: str) -> CellResult:
        """The kernel is gone: restart it unless an experiment-wide limit ended the sandbox."""
        result = run.result
        if self._fatal is not None:
            result.status = "killed"
            result.message = _join(result.message, f"sandbox closed: {self._fatal}")
            return result
        result.status = status
        try:
            self._launch()
            why += "; kernel restarted, in-memory state lost"
        except Exception as exc:  # a restart that fails ends the sandbox, recorded in the result
            self._fatal = f"restart failed: {exc}"
            why += f"; {self._fatal}"
        result.message = _join(result.message, why)
        return result


def _join(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def _is_oom(error: CellError) -> bool:
    return error.ename.endswith("MemoryError") or "can't allocate memory" in error.evalue


def _death(code: int | None) -> str:
    """Explain a dead kernel from the sandbox's exit status (bwrap reports 128 + signal)."""
    if code is None:
        return "kernel died"
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig:
        with contextlib.suppress(ValueError):
            return f"kernel died: {_SIGNALS.get(signal.Signals(sig), signal.Signals(sig).name)}"
    return f"kernel exited with code {code}"


@register_sandbox("bwrap")
def bwrap_sandbox(
    experiment_dir: str | os.PathLike[str],
    *,
    task_dir: str | os.PathLike[str] | None = None,
    policy: SandboxPolicy | None = None,
) -> KernelSandbox:
    """The local backend: an ipykernel under bubblewrap (refuses to start without it)."""
    policy = (policy or load_policy()).model_copy(update={"isolation": "bwrap"})
    return KernelSandbox(experiment_dir, task_dir=task_dir, policy=policy)


@register_sandbox("none")
def unsafe_sandbox(
    experiment_dir: str | os.PathLike[str],
    *,
    task_dir: str | os.PathLike[str] | None = None,
    policy: SandboxPolicy | None = None,
) -> KernelSandbox:
    """Development only: the same kernel and limits without isolation; marked unsafe."""
    policy = (policy or load_policy()).model_copy(update={"isolation": "none"})
    return KernelSandbox(experiment_dir, task_dir=task_dir, policy=policy)
