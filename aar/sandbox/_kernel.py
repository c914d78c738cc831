"""`KernelSandbox`: an experiment's isolated ipykernel, driven from the host by jupyter-client."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aar.sandbox._errors import SandboxUnavailableError, SandboxUsageError
from aar.sandbox._isolation import UidClaim, preflight, processes_of_uid
from aar.sandbox._notebook import NotebookLog
from aar.sandbox._policy import (
    SandboxPolicy,
    bwrap_command,
    kernel_env,
    load_policy,
    seccomp_filter_fd,
    unsandboxed_command,
)
from aar.sandbox._result import CellError, CellResult, DisplayItem

_READY_TIMEOUT_S = 60.0
_POLL_S = 0.05
_SIGNALS = {
    signal.SIGXCPU: "CPU time limit reached (SIGXCPU)",
    signal.SIGKILL: "killed (SIGKILL)",
    signal.SIGXFSZ: "file size limit reached (SIGXFSZ)",
    signal.SIGSEGV: "crashed (SIGSEGV)",
    signal.SIGABRT: "aborted (SIGABRT)",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Tracebacks arrive coloured; plain text for logs and JSON."""
    return _ANSI.sub("", text)


class KernelSandbox:
    """An isolated Jupyter kernel bound to one experiment directory.

    Layout of `experiment_dir`: `scratch/` (the kernel's only writable directory, `/scratch`
    inside, also its cwd), `task/` (the task's public files, read-only at `/task`; files of
    `task_dir` are hard-linked or copied there) and `notebook.ipynb` (every executed cell
    with its outputs).

    Use as a context manager. `run_cell` never raises for anything the cell does: timeouts,
    kernel deaths, floods and limit breaches come back as a `CellResult`; a dead kernel is
    restarted (in-memory state lost) unless an experiment-wide limit ended the sandbox.
    Raises `SandboxUnavailableError` at start when isolation cannot be set up (fail closed).
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
        self.experiment_dir = Path(experiment_dir).resolve()
        self._task_src = Path(task_dir).resolve() if task_dir is not None else None
        self._notebook_name = notebook_name
        self._claim: UidClaim | None = None
        self._tmp: Path | None = None
        self._km: Any = None
        self._kc: Any = None
        self._kernel_pid: int | None = None
        self._fatal: str | None = None
        self._deadline = float("inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._notebook: NotebookLog | None = None
        self.started_s: float | None = None
        """Seconds the last (re)start took until the kernel answered."""

    # -- paths -----------------------------------------------------------------------------
    @property
    def scratch_dir(self) -> Path:
        """Host path of the kernel's writable scratch directory."""
        return self.experiment_dir / "scratch"

    @property
    def task_dir(self) -> Path:
        """Host path of the task's public files (`task/`, read-only at `/task` inside)."""
        return self.experiment_dir / "task"

    @property
    def notebook_path(self) -> Path:
        """The experiment's notebook; rewritten after every cell."""
        return self.experiment_dir / self._notebook_name

    @property
    def unsafe(self) -> bool:
        """True when this kernel runs without isolation (development only)."""
        return self.policy.unsafe

    @property
    def uid(self) -> int | None:
        """The unprivileged uid the kernel runs as (None when aar is not root)."""
        return self._claim.uid if self._claim else None

    @property
    def alive(self) -> bool:
        """True while the kernel process runs."""
        proc = self._process()
        return proc is not None and proc.poll() is None

    @property
    def closed_reason(self) -> str | None:
        """Why the sandbox ended for good (an experiment-wide limit), else None."""
        return self._fatal

    def scratch_file(self, relative: str) -> Path:
        """A regular file inside scratch, for the host to read (e.g. predictions).

        Refuses symlinks and paths leaving scratch: the kernel controls that directory.
        """
        base = self.scratch_dir.resolve()
        path = base / relative
        if ".." in Path(relative).parts or Path(relative).is_absolute():
            raise SandboxUsageError(f"{relative!r} is not a path inside scratch")
        current = base
        for part in Path(relative).parts:
            current = current / part
            if current.is_symlink():
                raise SandboxUsageError(f"{relative!r} in scratch is a symlink; refused")
        if not path.is_file():
            raise SandboxUsageError(f"{relative!r} is not a regular file in scratch")
        return path

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, *, clock: bool = True) -> Self:
        """Prepare the directories, claim a uid and start the kernel; ready when it returns.

        `clock=False` leaves the experiment's wall clock stopped until `begin_experiment`
        (the pool's waiting kernels).
        """
        preflight(self.policy)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        if self._task_src is not None:
            copy_task(self._task_src, self.task_dir)
        self.task_dir.mkdir(parents=True, exist_ok=True)
        self.task_dir.chmod(0o755)
        is_root = os.geteuid() == 0
        if not self.unsafe and is_root:
            self._claim = UidClaim(self.policy.uid_range)
            _chown_tree(self.scratch_dir, self._claim.uid, self._claim.uid)
        # Short path: unix socket names must stay under ~107 characters.
        self._tmp = Path(tempfile.mkdtemp(prefix="aar-sbx-"))
        try:
            self._launch()
        except BaseException:
            self.close()
            raise
        self._notebook = NotebookLog(
            self.notebook_path,
            unsafe=self.unsafe,
            display_name=str(self.policy.kernel_spec.get("display_name", "aar sandbox")),
        )
        if clock:
            self.begin_experiment()
        self._watchdog = threading.Thread(
            target=self._watch, name="aar-sandbox-watchdog", daemon=True
        )
        self._watchdog.start()
        return self

    def relocate(self, target: Path) -> None:
        """Rename the experiment directory (same filesystem) while the kernel runs.

        Bind mounts follow the directory, not its name, so `/scratch` and `/task` move along;
        the pool uses this to hand a waiting kernel to a new experiment.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rmdir()  # only an empty directory may be taken over
        os.rename(self.experiment_dir, target)
        self.experiment_dir = target
        if self._notebook is not None:
            self._notebook.path = self.notebook_path

    def begin_experiment(self) -> None:
        """Start the experiment's wall clock (the pool calls this again when handing out)."""
        self._deadline = time.monotonic() + self.policy.limits.experiment_timeout_s

    def _launch(self) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        assert self._tmp is not None
        t0 = time.monotonic()
        ipc = self._tmp / "ipc"
        ipc.mkdir(exist_ok=True)
        spec_dir = self._tmp / "spec" / "aar-sandbox"
        spec_dir.mkdir(parents=True, exist_ok=True)
        env = kernel_env(self.policy)
        seccomp_fd = None
        if self.unsafe:
            home = self._tmp / "home"
            home.mkdir(exist_ok=True)
            env |= {
                "HOME": str(home),
                "IPYTHONDIR": str(home / ".ipython"),
                "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
                "JUPYTER_DATA_DIR": str(home / ".jupyter" / "data"),
                "JUPYTER_RUNTIME_DIR": str(home / ".jupyter" / "runtime"),
                "MPLCONFIGDIR": str(home / ".matplotlib"),
                "PYTHONPATH": str(self.policy.kernel_lib_dir),
                "SANDBOX_TASK_DIR": str(self.task_dir),
                "SANDBOX_SCRATCH_DIR": str(self.scratch_dir),
            }
            argv = unsandboxed_command(self.policy)
        else:
            seccomp_fd = seccomp_filter_fd(self.policy)
            argv = bwrap_command(
                self.policy,
                scratch=self.scratch_dir,
                task=self.task_dir,
                ipc_dir=ipc,
                uid=self.uid,
                env=env,
                seccomp_fd=seccomp_fd,
            )
        spec = dict(self.policy.kernel_spec) | {"argv": argv, "interrupt_mode": "message"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        km = KernelManager(
            kernel_name="aar-sandbox",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir.parent)]),
            transport="ipc",
            connection_file=str(ipc / "kernel.json"),
        )
        km.write_connection_file()
        if self.uid is not None:
            for path in (ipc, ipc / "kernel.json"):
                os.chown(path, self.uid, self.uid)
            ipc.chmod(0o700)
        log = open(self._tmp / "kernel.log", "ab")  # noqa: SIM115 (owned by the process)
        try:
            km.start_kernel(
                env={"PATH": env["PATH"]},
                cwd=str(self.scratch_dir if self.unsafe else self._tmp),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                pass_fds=() if seccomp_fd is None else (seccomp_fd,),
            )
        finally:
            log.close()
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        self._km = km
        kc = km.client()
        kc.start_channels()
        self._kc = kc
        try:
            kc.wait_for_ready(timeout=_READY_TIMEOUT_S)
        except RuntimeError as exc:
            tail = self._log_tail()
            raise SandboxUnavailableError(
                f"sandboxed kernel did not start ({exc}); kernel log: {tail}"
            ) from None
        if self.uid is not None:
            # The kernel has bound its sockets: take the directory back so it cannot swap a
            # socket for a link that would point the host's reconnects at a host socket.
            os.chown(ipc, 0, 0)
            ipc.chmod(0o755)
        self._kernel_pid = None
        self.started_s = time.monotonic() - t0

    def _log_tail(self) -> str:
        try:
            text = (self._tmp / "kernel.log").read_text(errors="replace") if self._tmp else ""
        except OSError:
            return "(none)"
        return " | ".join(text.strip().splitlines()[-5:]) or "(empty)"

    def _process(self) -> subprocess.Popen[bytes] | None:
        km = self._km
        prov = getattr(km, "provisioner", None) if km is not None else None
        return getattr(prov, "process", None)

    def _kill(self) -> int | None:
        """Kill the whole sandbox (bwrap dies, its PID namespace and every process with it)."""
        proc = self._process()
        code = None
        if self._kc is not None:
            with contextlib.suppress(Exception):
                self._kc.stop_channels()
                self._kc.context.destroy(linger=0)
            self._kc = None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=10)
        if self._km is not None:
            with contextlib.suppress(Exception):
                self._km.cleanup_resources()
            self._km = None
        if self.uid is not None:  # the PID namespace tears down asynchronously
            end = time.monotonic() + 5
            while processes_of_uid(self.uid) and time.monotonic() < end:
                time.sleep(0.02)
        return code

    def restart(self) -> None:
        """Kill the kernel and start a fresh one on the same scratch (in-memory state is lost)."""
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
        """Kill the kernel and everything it started; give scratch back to the host user."""
        self._stop.set()
        self._kill()
        if self._notebook is not None:
            self._notebook.close()
            self._notebook = None
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=5)
        if self._claim is not None:
            with contextlib.suppress(OSError):
                _chown_tree(self.scratch_dir, os.geteuid(), os.getegid())
            self._claim.release()
            self._claim = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._fatal is None:
            self._fatal = "sandbox closed"

    # -- watchdog --------------------------------------------------------------------------
    def _watch(self) -> None:
        lim = self.policy.limits
        while not self._stop.wait(lim.watchdog_interval_s):
            reason = None
            if time.monotonic() > self._deadline:
                reason = f"experiment wall-clock limit of {lim.experiment_timeout_s:g} s reached"
            else:
                used = _tree_size(self.scratch_dir)
                if used > lim.scratch_mb * 1024 * 1024:
                    reason = (
                        f"scratch limit of {lim.scratch_mb} MiB exceeded "
                        f"({used / 2**20:.0f} MiB written)"
                    )
            if reason is not None:
                self._fatal = reason
                proc = self._process()
                if proc is not None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                return

    # -- execution -------------------------------------------------------------------------
    def run_cell(self, code: str, timeout: float | None = None) -> CellResult:
        """Execute `code` in the kernel and return what happened; never hangs past `timeout`.

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
        if self._fatal is not None or self._kc is None:
            return CellResult(status="killed", message=f"sandbox closed: {self._fatal}")
        lim = self.policy.limits
        remaining = self._deadline - time.monotonic()
        budget = min(timeout or lim.cell_timeout_s, remaining)
        if budget <= 0:
            self._fatal = f"experiment wall-clock limit of {lim.experiment_timeout_s:g} s reached"
            self._kill()
            return CellResult(status="killed", message=f"sandbox closed: {self._fatal}")
        out = _Collector(lim.output_limit_chars, lim.max_display_items)
        kc = self._kc
        t0 = time.monotonic()
        # The channels' own sync methods: the client's blocking wrappers run an asyncio loop
        # per message (~0.3 ms each, 5+ messages a cell).
        request = kc.session.msg(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": False,
            },
        )
        kc.shell_channel.send(request)
        msg_id = request["header"]["msg_id"]
        interrupted_at: float | None = None
        idle = False
        while not idle:
            now = time.monotonic()
            if interrupted_at is None and now - t0 >= budget:
                with contextlib.suppress(Exception):
                    self._km.interrupt_kernel()
                interrupted_at = now
            if interrupted_at is not None and now - interrupted_at >= lim.interrupt_grace_s:
                self._kill()
                return self._after_death(
                    out,
                    t0,
                    status="timeout",
                    why=f"cell exceeded {budget:.3g} s and ignored the interrupt; kernel killed",
                )
            try:
                msg = kc.iopub_channel.get_msg(timeout=_POLL_S)
            except queue.Empty:
                if not self.alive:
                    code_ = self._kill()
                    return self._after_death(out, t0, status="killed", why=_death(code_))
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            idle = out.take(msg)
        duration = time.monotonic() - t0
        reply = self._shell_reply(msg_id)
        result = out.result(duration, reply.get("execution_count") if reply else None)
        result.peak_memory_mb = self._peak_mb()
        if interrupted_at is not None:
            result.status = "timeout"
            result.message = _join(result.message, f"cell exceeded {budget:.3g} s; interrupted")
        elif result.error is not None and _is_oom(result.error):
            result.status = "oom"
            result.message = _join(
                result.message, f"memory limit of {lim.memory_mb} MiB (address space) reached"
            )
        return result

    def _after_death(self, out: _Collector, t0: float, *, status: str, why: str) -> CellResult:
        result = out.result(time.monotonic() - t0, None)
        if self._fatal is not None:
            result.status = "killed"
            result.message = _join(result.message, f"sandbox closed: {self._fatal}")
            return result
        result.status = status  # type: ignore[assignment]
        try:
            self._launch()
            why += "; kernel restarted, in-memory state lost"
        except SandboxUnavailableError as exc:
            self._fatal = f"restart failed: {exc}"
            why += f"; {self._fatal}"
        result.message = _join(result.message, why)
        return result

    def _shell_reply(self, msg_id: str) -> dict[str, Any] | None:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                msg = self._kc.shell_channel.get_msg(timeout=0.5)
            except queue.Empty:
                if not self.alive:
                    return None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg["content"]
        return None

    def _find_kernel_pid(self) -> int | None:
        proc = self._process()
        if proc is None or self.unsafe:
            return None if proc is None else _find_python(proc.pid, None)
        return _find_python(proc.pid, self.uid)

    def _peak_mb(self) -> float | None:
        """Kernel's peak resident memory since the previous cell ended (VmHWM), then reset.

        Resetting (`clear_refs`) costs ~1 ms, so it is done only when the peak is above the
        current resident size, i.e. when this cell's peak would hide the next one's.
        """
        if self._kernel_pid is None:
            self._kernel_pid = self._find_kernel_pid()
        if self._kernel_pid is None:
            return None
        try:
            with open(f"/proc/{self._kernel_pid}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if line.startswith("Vm"))
            hwm, rss = (int(fields[k].split()[0]) for k in ("VmHWM", "VmRSS"))
        except (OSError, KeyError, ValueError):
            return None
        if hwm > rss + 1024:
            with (
                contextlib.suppress(OSError),
                open(f"/proc/{self._kernel_pid}/clear_refs", "w") as fh,
            ):
                fh.write("5")
        return hwm / 1024


class _Collector:
    """Gathers one cell's iopub messages, capping text and rich outputs."""

    def __init__(self, limit_chars: int, max_display: int) -> None:
        self.limit = limit_chars
        self.max_display = max_display
        self.streams: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.kept = 0
        self.dropped = 0
        self.dropped_display = 0
        self.display: list[DisplayItem] = []
        self.error: CellError | None = None

    def take(self, msg: dict[str, Any]) -> bool:
        """Record one message; True when the kernel went idle (the cell is done)."""
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "stream":
            text = content.get("text", "")
            room = max(self.limit - self.kept, 0)
            keep = text[:room]
            self.kept += len(keep)
            self.dropped += len(text) - len(keep)
            if keep:
                self.streams.setdefault(content.get("name", "stdout"), []).append(keep)
        elif kind in ("display_data", "execute_result"):
            if len(self.display) >= self.max_display:
                self.dropped_display += 1
            else:
                self.display.append(
                    DisplayItem(
                        kind=kind,
                        data=content.get("data", {}),
                        metadata=content.get("metadata", {}),
                    )
                )
        elif kind == "error":
            self.error = CellError(
                ename=content.get("ename", ""),
                evalue=content.get("evalue", ""),
                traceback=content.get("traceback", []),
            )
        elif kind == "status":
            return content.get("execution_state") == "idle"
        return False

    def result(self, duration: float, execution_count: int | None) -> CellResult:
        notes = []
        if self.dropped:
            notes.append(
                f"output truncated: {self.dropped} characters over the {self.limit} cap dropped"
            )
        if self.dropped_display:
            notes.append(
                f"{self.dropped_display} rich outputs over the {self.max_display} cap dropped"
            )
        return CellResult(
            status="error" if self.error is not None else "ok",
            stdout="".join(self.streams.get("stdout", [])),
            stderr="".join(self.streams.get("stderr", [])),
            display=self.display,
            error=self.error,
            duration_s=duration,
            execution_count=execution_count,
            truncated=bool(self.dropped or self.dropped_display),
            message="; ".join(notes) or None,
        )


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


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _find_python(root: int, uid: int | None) -> int | None:
    """Host pid of the kernel's Python process below the sandbox's root process."""
    todo = [root]
    while todo:
        pid = todo.pop(0)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        name = status.split("\n", 1)[0].split()[-1]
        owner = int(status.split("Uid:")[1].split()[0])
        if name.startswith("python") and (uid is None or owner == uid):
            return pid
        todo.extend(_children(pid))
    return None


def copy_task(src: Path, dest: Path) -> None:
    """Hard-link (or copy) public task files into `dest`, readable by the sandbox uid."""
    if not src.is_dir():
        raise SandboxUsageError(f"task directory {src} does not exist")
    dest.mkdir(parents=True, exist_ok=True)

    def link_or_copy(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
        os.chmod(d, 0o644)

    shutil.copytree(src, dest, dirs_exist_ok=True, copy_function=link_or_copy)


def _tree_size(root: Path) -> int:
    """Bytes under `root`, without following symlinks (the kernel controls this tree)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give a tree to `uid` without following symlinks the kernel may have planted."""
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):
                os.lchown(os.path.join(dirpath, name), uid, gid)
