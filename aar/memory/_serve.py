"""Running a Chroma server for a team (`aar memory serve`): checked before it starts, stopped
cleanly on Ctrl-C, SIGTERM or SIGHUP, and every failure one `MemoryServerError`.

Clients point `AAR_MEMORY_URL=http://HOST:PORT` at it (server mode, `_open.py`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from aar.memory._errors import MemoryServerError
from aar.memory._open import check_local_dir
from aar.procs import die_with_parent

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_STOPPED_CODES = (0, 130, 143, -2, -15)  # exited, or stopped by Ctrl-C or SIGTERM


def check_listen(host: str, port: int) -> None:
    """The address can be listened on now (a clear line instead of a server that dies)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MemoryServerError(f"cannot listen on {host!r}: {exc}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(address)
        except OSError as exc:
            raise MemoryServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve_chroma(
    directory: Path,
    host: str,
    port: int,
    *,
    on_ready: Callable[[], None],
    warn: Callable[[str], None],
) -> None:
    """Serve the store in `directory` on `host:port` until stopped; `on_ready` is called once
    the server answers, `warn` with anything the caller should show (a server killed because
    it did not stop). A server that cannot start or stops by itself is a `MemoryServerError`."""
    _stop_like_ctrl_c()
    proc = _start(directory, host, port)
    try:
        _wait_ready(proc, host, port)
        on_ready()
        code = proc.wait()
    except KeyboardInterrupt:
        code = _stop(proc, warn)
    if code not in _STOPPED_CODES:
        raise MemoryServerError(f"the Chroma server stopped with exit code {code}")


@contextlib.contextmanager
def chroma_server(directory: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """A Chroma server on the store in `directory`, on a free port, for as long as the block
    runs (a team's shared memory); yields its URL. Stopped (killed if it must be) after."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    proc = _start(directory, host, port, quiet=True)
    try:
        _wait_ready(proc, host, port)
        yield f"http://{host}:{port}"
    finally:
        if proc.poll() is None:
            _stop(proc, lambda message: None)


def _start(
    directory: Path, host: str, port: int, *, quiet: bool = False
) -> subprocess.Popen[bytes]:
    check_local_dir(directory)
    check_listen(host, port)
    chroma = _chroma_command()
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(chroma), "run", "--path", str(directory), "--host", host, "--port", str(port)],
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
        preexec_fn=die_with_parent if quiet else None,  # a team lead's server dies with it
    )


def _chroma_command() -> Path:
    """chromadb's `chroma` script: beside this interpreter, else on PATH."""
    chroma = Path(sys.executable).parent / "chroma"
    if chroma.exists():
        return chroma
    found = shutil.which("chroma")
    if not found:
        raise MemoryServerError("the `chroma` command (from chromadb) is not installed")
    return Path(found)


def _wait_ready(proc: subprocess.Popen[bytes], host: str, port: int) -> None:
    import urllib.request  # not at the top: its import (ssl) would slow every `aar memory`

    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{probe}:{port}/api/v2/heartbeat"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MemoryServerError(f"the Chroma server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise MemoryServerError(
        f"the Chroma server did not answer on {host}:{port} within {READY_TIMEOUT_S:.0f} s"
    )


def _stop_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP (`kill`, a service manager, a closed terminal) stop the server the way
    Ctrl-C does, and SIGINT works even when a shell started aar with it ignored: otherwise aar
    died and left the Chroma server running on the port."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _stop(proc: subprocess.Popen[bytes], warn: Callable[[str], None]) -> int:
    """Ask the Chroma server to stop and return its exit code; kill it if it has not stopped
    within `STOP_TIMEOUT_S`."""
    proc.terminate()
    try:
        return proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        warn(f"the Chroma server did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM; killed it")
        proc.kill()
        proc.wait()
        return 0  # the stop that was asked for, warned about above
