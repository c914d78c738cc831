"""One ipykernel process driven from the host by jupyter-client over the `ipc` transport.

TCP cannot cross the sandbox's network namespace, so the kernel's sockets are unix sockets in
a directory bound into the sandbox at the same path. This module knows Jupyter messaging and
processes; what a cell's result means (timeouts, deaths, limits) is `_kernel.py`'s business.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aar.sandbox._errors import SandboxUnavailableError
from aar.sandbox._launch import Launch
from aar.sandbox._procfs import cpu_seconds, find_python, peak_memory_mb
from aar.sandbox._result import CellError, CellResult, DisplayItem

_READY_TIMEOUT_S = 60.0
_POLL_S = 0.05


@dataclass
class Execution:
    """What happened to one execute request, before the sandbox interprets it."""

    result: CellResult
    interrupted: bool = False
    """The wall clock ran out and the kernel was sent an interrupt (it may have stopped)."""
    unresponsive: bool = False
    """The kernel ignored the interrupt for the whole grace period; it must be killed."""
    died: bool = False
    """The kernel process exited during the cell."""


class KernelProcess:
    """A started kernel: execute code, interrupt it, kill it (with everything it started)."""

    def __init__(self, work_dir: Path, spec: dict[str, Any]) -> None:
        """`work_dir`: a short host path (unix socket names must stay under ~107 characters)."""
        self.work_dir = work_dir
        self.spec = spec
        self._km: Any = None
        self._kc: Any = None
        self._pid: int | None = None

    @property
    def ipc_dir(self) -> Path:
        return self.work_dir / "ipc"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        prov = getattr(self._km, "provisioner", None) if self._km is not None else None
        return getattr(prov, "process", None)

    @property
    def alive(self) -> bool:
        proc = self.process
        return proc is not None and proc.poll() is None

    def start(self, launch: Launch) -> float:
        """Start the kernel and wait until it answers; returns the seconds that took."""
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        t0 = time.monotonic()
        spec_dir = self.work_dir / "spec" / "aar-sandbox"
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec = self.spec | {"argv": launch.argv, "interrupt_mode": "message"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        km = KernelManager(
            kernel_name="aar-sandbox",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir.parent)]),
            transport="ipc",
            connection_file=str(self.ipc_dir / "kernel.json"),
        )
        km.write_connection_file()
        if launch.socket_owner is not None:
            for path in (self.ipc_dir, self.ipc_dir / "kernel.json"):
                os.chown(path, launch.socket_owner, launch.socket_owner)
            self.ipc_dir.chmod(0o700)
        with open(self.work_dir / "kernel.log", "ab") as log:
            try:
                km.start_kernel(
                    env=launch.env,
                    cwd=str(launch.cwd),
                    stdout=log,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    pass_fds=launch.pass_fds,
                )
            finally:
                launch.started()
        self._km, self._pid = km, None
        self._kc = km.client()
        self._kc.start_channels()
        try:
            self._kc.wait_for_ready(timeout=_READY_TIMEOUT_S)
        except RuntimeError as exc:
            raise SandboxUnavailableError(
                f"sandboxed kernel did not start ({exc}); kernel log: {self.log_tail()}"
            ) from None
        if launch.socket_owner is not None:
            # The kernel has bound its sockets: take the directory back so it cannot swap a
            # socket for a link that would point the host's reconnects at a host socket.
            os.chown(self.ipc_dir, 0, 0)
            self.ipc_dir.chmod(0o755)
        return time.monotonic() - t0

    def log_tail(self) -> str:
        try:
            text = (self.work_dir / "kernel.log").read_text(errors="replace")
        except OSError:
            return "(none)"
        return " | ".join(text.strip().splitlines()[-5:]) or "(empty)"

    def execute(
        self, code: str, collector: Collector, budget_s: float, grace_s: float
    ) -> Execution:
        """Run `code`; interrupt it after `budget_s`, give up on it `grace_s` later."""
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
            if interrupted_at is None and now - t0 >= budget_s:
                with contextlib.suppress(Exception):
                    self._km.interrupt_kernel()
                interrupted_at = now
            if interrupted_at is not None and now - interrupted_at >= grace_s:
                return Execution(collector.result(now - t0), interrupted=True, unresponsive=True)
            try:
                msg = kc.iopub_channel.get_msg(timeout=_POLL_S)
            except queue.Empty:
                if not self.alive:
                    return Execution(collector.result(time.monotonic() - t0), died=True)
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                idle = collector.take(msg)
        duration = time.monotonic() - t0
        reply = self._shell_reply(msg_id)
        result = collector.result(duration, reply.get("execution_count") if reply else None)
        return Execution(result, interrupted=interrupted_at is not None)

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

    def _python_pid(self, uid: int | None) -> int | None:
        proc = self.process
        if self._pid is None and proc is not None:
            self._pid = find_python(proc.pid, uid)
        return self._pid

    def peak_memory_mb(self, uid: int | None) -> float | None:
        """The kernel Python's peak resident memory since the previous call."""
        pid = self._python_pid(uid)
        return None if pid is None else peak_memory_mb(pid)

    def cpu_seconds(self, uid: int | None) -> float | None:
        """CPU seconds the kernel Python has used so far."""
        pid = self._python_pid(uid)
        return None if pid is None else cpu_seconds(pid)

    def kill(self) -> int | None:
        """Kill the process (for bwrap: its PID namespace and every process with it)."""
        proc = self.process
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
            _cleanup(self._km)
            self._km = None
        return code


def _cleanup(km: Any) -> None:
    """jupyter-client's cleanup (connection file, sockets, control socket, zmq context).

    It is a sync wrapper over a coroutine that runs on the calling thread's event loop; from
    a thread that borrows another's loop (an agent's tool worker) it silently does nothing, so
    it runs in a thread of its own.
    """

    def run() -> None:
        with contextlib.suppress(Exception):
            km.cleanup_resources()

    worker = threading.Thread(target=run, name="aar-kernel-cleanup", daemon=True)
    worker.start()
    worker.join(timeout=10)


class Collector:
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
            self._stream(content.get("name", "stdout"), content.get("text", ""))
        elif kind in ("display_data", "execute_result"):
            if len(self.display) >= self.max_display:
                self.dropped_display += 1
            else:
                data, meta = content.get("data", {}), content.get("metadata", {})
                self.display.append(DisplayItem(kind=kind, data=data, metadata=meta))
        elif kind == "error":
            self.error = CellError(
                ename=content.get("ename", ""),
                evalue=content.get("evalue", ""),
                traceback=content.get("traceback", []),
            )
        elif kind == "status":
            return content.get("execution_state") == "idle"
        return False

    def _stream(self, name: str, text: str) -> None:
        keep = text[: max(self.limit - self.kept, 0)]
        self.kept += len(keep)
        self.dropped += len(text) - len(keep)
        if keep:
            self.streams.setdefault(name, []).append(keep)

    def result(self, duration: float, execution_count: int | None = None) -> CellResult:
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
