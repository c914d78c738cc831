"""Escape-test battery: hostile cells that every sandbox backend must block.

Each case runs one hostile cell, asserts a specific outcome, then checks the host is
unharmed (planted files unchanged, no marker files, no connection reached the host's
127.0.0.1 server) and that the sandbox still answers. Cheap cases share one sandbox per
backend (a kernel the case kills is restarted by the sandbox itself); cases that end a
sandbox get a fresh one and prove no process outlives it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_support import (
    GT_MARKER,
    REPO,
    SECRET,
    HostPlaces,
    SandboxFactory,
    Shared,
    small_policy,
)

from aar.sandbox import CellResult, SandboxUsageError

# A hostile cell prints "BLOCKED <why>" for every attempt that failed and "ESCAPED <what>"
# for any that worked; cases assert on these lines and on the cell's status.
TRY = """
def attempt(what, fn):
    try:
        fn()
    except BaseException as e:
        print("BLOCKED", what, type(e).__name__, e)
    else:
        print("ESCAPED", what)
"""


@dataclass(frozen=True)
class Case:
    id: str
    code: Callable[[HostPlaces], str]
    check: Callable[[CellResult, HostPlaces], None]
    timeout: float = 15.0


def lines(stdout: str, word: str) -> list[str]:
    """Lines of a hostile cell's output starting with BLOCKED or ESCAPED."""
    return [line for line in stdout.splitlines() if line.startswith(word)]


def blocked(n: int) -> Callable[[CellResult, HostPlaces], None]:
    """Expect `n` BLOCKED lines and no ESCAPED line from a cell that ran to completion."""

    def check(result: CellResult, places: HostPlaces) -> None:
        assert result.status == "ok", result
        assert not lines(result.stdout, "ESCAPED"), result.stdout
        assert len(lines(result.stdout, "BLOCKED")) == n, result.stdout

    return check


def status_is(status: str, *, message: str = "", ename: str = "") -> Callable[..., None]:
    def check(result: CellResult, places: HostPlaces) -> None:
        assert result.status == status, result
        assert message in (result.message or ""), result.message
        if ename:
            assert result.error is not None and result.error.ename == ename, result.error

    return check


def _write_attempts(paths: list[str]) -> str:
    lines = [TRY]
    for p in paths:
        lines.append(f"attempt({p!r}, lambda: open({p!r}, 'w').write('x'))")
    return "\n".join(lines)


def _not_found_anywhere(result: CellResult, places: HostPlaces) -> None:
    assert result.status == "ok", result
    assert GT_MARKER not in result.stdout and SECRET not in result.stdout, result.stdout
    assert not lines(result.stdout, "ESCAPED"), result.stdout
    assert "SEARCHED" in result.stdout


CASES = [
    Case(
        "tcp-to-internet",
        lambda p: (
            TRY
            + "import socket\n"
            + "attempt('1.1.1.1', lambda: socket.create_connection(('1.1.1.1', 80), 3))"
        ),
        blocked(1),
    ),
    Case(
        "tcp-to-host-loopback-server",
        lambda p: (
            TRY + "import socket\n"
            f"attempt('host', lambda: socket.create_connection(('127.0.0.1', {p.server_port}), 3))"
        ),
        blocked(1),
    ),
    Case(
        "udp-and-dns",
        lambda p: (
            TRY
            + "import socket\n"
            + "attempt('dns', lambda: socket.getaddrinfo('pypi.org', 443))\n"
            + "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            + "attempt('udp', lambda: s.sendto(b'x', ('8.8.8.8', 53)))\n"
            + "print('IFACES', [n for _, n in socket.if_nameindex()])"
        ),
        lambda r, p: (blocked(2)(r, p), "IFACES ['lo']" in r.stdout or pytest.fail(r.stdout)),
    ),
    Case(
        "write-etc-usr-task",
        lambda p: _write_attempts(["/etc/PWNED_BY_SANDBOX", "/usr/x", "/task/x", "/x"]),
        blocked(4),
    ),
    Case(
        "write-repo-runs-memory",
        lambda p: _write_attempts(
            [
                str(REPO / "PWNED_BY_SANDBOX"),
                str(p.repo_standin / "keep.txt"),
                str(p.other_run / "keep.txt"),
                str(p.other_run / "new.txt"),
                str(p.memory / "keep.txt"),
                str(p.run_dir.parent / "ground_truth_labels.txt"),
            ]
        ),
        blocked(6),
    ),
    Case(
        "read-ground-truth",
        lambda p: (
            TRY
            + f"attempt('host gt', lambda: print(open({str(p.ground_truth)!r}).read()))\n"
            + "attempt('rel gt', lambda: print(open('../ground_truth_labels.txt').read()))\n"
            + "import os, sys\n"
            + "skip = ('/proc', '/sys', '/dev', '/usr', sys.prefix)\n"
            + "for d, dirs, fs in os.walk('/'):\n"
            + "    dirs[:] = [x for x in dirs if not os.path.join(d, x).startswith(skip)]\n"
            + "    for f in fs:\n"
            + "        try: data = open(os.path.join(d, f), 'rb').read(1 << 20)\n"
            + "        except OSError: continue\n"
            + f"        if b{GT_MARKER!r} in data: print('ESCAPED', d, f)\n"
            + "print('SEARCHED')"
        ),
        _not_found_anywhere,
    ),
    Case(
        "read-secrets-from-env-and-proc",
        lambda p: (
            "import os, glob\n"
            + f"print('ESCAPED env' if any({SECRET!r} in v for v in os.environ.values()) else '')\n"
            + "print('KEYS', sorted(k for k in os.environ\n"
            + "                     if 'KEY' in k or 'AAR' in k or 'PROXY' in k))\n"
            + "for f in glob.glob('/proc/*/environ'):\n"
            + "    try: data = open(f, 'rb').read()\n"
            + "    except OSError: continue\n"
            + f"    if b{SECRET!r} in data: print('ESCAPED', f)\n"
            + "print('SEARCHED')"
        ),
        lambda r, p: (_not_found_anywhere(r, p), "KEYS []" in r.stdout or pytest.fail(r.stdout)),
    ),
    Case(
        "host-proc-mem-and-ptrace",
        lambda p: (
            TRY
            + "import ctypes, os\n"
            + f"attempt('host environ', lambda: open('/proc/{os.getpid()}/environ', 'rb').read())\n"
            + f"attempt('host mem', lambda: open('/proc/{os.getpid()}/mem', 'rb'))\n"
            + "libc = ctypes.CDLL(None, use_errno=True)\n"
            + "def ptrace():\n"
            + "    if libc.ptrace(16, 1, 0, 0) != 0: raise OSError(ctypes.get_errno(), 'ptrace')\n"
            + "attempt('ptrace pid 1', ptrace)"
        ),
        blocked(3),
    ),
    Case(
        "privilege-escalation",
        lambda p: (
            TRY
            + "import os, subprocess\n"
            + "attempt('setuid 0', lambda: os.setuid(0))\n"
            + "def mount():\n"
            + "    subprocess.run(['mount', '-t', 'tmpfs', 'x', '/tmp'],\n"
            + "                   check=True, capture_output=True)\n"
            + "attempt('mount', mount)\n"
            + "print('CAPS', open('/proc/self/status').read().split('CapEff:')[1].split()[0])"
        ),
        lambda r, p: (blocked(2)(r, p), "CAPS 0000000000000000" in r.stdout or pytest.fail()),
    ),
    Case(
        "nested-user-namespace",
        lambda p: (
            TRY
            + "import ctypes, subprocess\n"
            + "libc = ctypes.CDLL(None, use_errno=True)\n"
            + "def unshare():\n"
            + "    if libc.unshare(0x10000000) != 0: raise OSError(ctypes.get_errno(), 'unshare')\n"
            + "attempt('unshare(CLONE_NEWUSER)', unshare)\n"
            + "def tool():\n"
            + "    subprocess.run(['unshare', '-U', '-r', 'true'], check=True)\n"
            + "attempt('unshare -U -r', tool)\n"
            + "import threading; t = threading.Thread(target=print, args=('THREADS OK',))\n"
            + "t.start(); t.join()"
        ),
        lambda r, p: (blocked(2)(r, p), "THREADS OK" in r.stdout or pytest.fail(r.stdout)),
    ),
    Case(
        "tamper-with-kernel-sockets",
        lambda p: (
            TRY
            + "import os\n"
            + "argv = open('/proc/self/cmdline').read().split('\\0')\n"
            + "conn = argv[argv.index('-f') + 1]; d = os.path.dirname(conn)\n"
            + "sock = [os.path.join(d, f) for f in os.listdir(d) if '-ipc-' in f][0]\n"
            + "attempt('unlink socket', lambda: os.unlink(sock))\n"
            + "attempt('symlink', lambda: os.symlink('/var/run/docker.sock', sock + '9'))\n"
            + "attempt('rename', lambda: os.rename(sock, sock + '.old'))"
        ),
        blocked(3),
    ),
    Case(
        "exec-and-dlopen-from-scratch",
        lambda p: (
            TRY
            + "import ctypes, ctypes.util, os, shutil, subprocess, glob\n"
            + "shutil.copy('/usr/bin/true', '/scratch/mytrue')\n"
            + "os.chmod('/scratch/mytrue', 0o755)\n"
            + "lib = glob.glob('/usr/lib/*/libm.so.6')[0]\n"
            + "shutil.copy(lib, '/scratch/libm.so.6'); shutil.copy(lib, '/tmp/libm.so.6')\n"
            + "attempt('exec scratch', lambda: subprocess.run(['/scratch/mytrue'], check=True))\n"
            + "attempt('dlopen scratch', lambda: ctypes.CDLL('/scratch/libm.so.6'))\n"
            + "attempt('dlopen tmp', lambda: ctypes.CDLL('/tmp/libm.so.6'))"
        ),
        blocked(3),
    ),
    Case(
        "memory-bomb",
        lambda p: (
            "chunks = []\ntry:\n    while True:\n        chunks.append(bytearray(50 * 2**20))\n"
            "finally:\n    del chunks[:]  # the kernel must stay usable for the next case"
        ),
        status_is("oom", message="memory limit", ename="MemoryError"),
    ),
    Case(
        "one-huge-allocation",
        lambda p: "import numpy as np\nx = np.ones(2**34, dtype=np.uint8)",
        status_is("oom", message="memory limit"),
    ),
    Case(
        "file-over-size-limit",
        lambda p: (
            "with open('/scratch/big', 'wb') as f:\n    for _ in range(100): f.write(b'0' * 2**20)"
        ),
        lambda r, p: (
            status_is("error", ename="OSError")(r, p),
            (p.run_dir / "scratch" / "big").stat().st_size <= 16 * 2**20 or pytest.fail(),
        ),
    ),
    Case(
        "fill-tmp",
        lambda p: "i = 0\nwhile True:\n    open(f'/tmp/f{i}', 'wb').write(b'0' * 2**20); i += 1",
        lambda r, p: (
            status_is("error", ename="OSError")(r, p),
            "No space left" in r.error.evalue or pytest.fail(r.error.evalue),  # type: ignore[union-attr]
        ),
    ),
    Case(
        "infinite-loop",
        lambda p: "while True:\n    pass",
        status_is("timeout", message="interrupted"),
        timeout=1.0,
    ),
    Case(
        "infinite-loop-ignoring-interrupt",
        lambda p: (
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
        ),
        status_is("timeout", message="kernel killed"),
        timeout=1.0,
    ),
    Case(
        "sys-exit",
        lambda p: "import sys\nsys.exit(3)",
        status_is("error", ename="SystemExit"),
    ),
    Case("os-exit", lambda p: "import os\nos._exit(0)", status_is("killed", message="restarted")),
    Case(
        "kill-parent-and-host-pid",
        lambda p: (
            TRY
            + "import os, signal\n"
            + f"attempt('host pid', lambda: os.kill({os.getpid()}, signal.SIGKILL))\n"
            + "attempt('parent', lambda: os.kill(os.getppid(), signal.SIGKILL))"
        ),
        blocked(2),
    ),
    Case(
        "killpg",
        lambda p: "import os, signal\nos.killpg(0, signal.SIGKILL)",
        status_is("killed", message="restarted"),
    ),
    Case(
        "huge-output",
        lambda p: "print('x' * 10**7)\nfor i in range(2000):\n    print('line', i)",
        lambda r, p: (
            r.truncated or pytest.fail(str(r.message)),
            len(r.stdout) + len(r.stderr) <= 20_000 or pytest.fail(),
            "truncated" in (r.message or "") or pytest.fail(r.message),
        ),
    ),
    Case(
        "fork-bomb",
        lambda p: (
            "import os, time\nn = 0\n"
            "try:\n"
            "    while n < 10000:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(3); os._exit(0)\n"
            "        n += 1\n"
            "except OSError as e:\n"
            "    print('LIMITED', n, type(e).__name__)"
        ),
        lambda r, p: (
            r.status == "ok" or pytest.fail(str(r)),
            ("LIMITED" in r.stdout and int(r.stdout.split()[1]) < 64) or pytest.fail(r.stdout),
        ),
    ),
]


def _host_unharmed(places: HostPlaces) -> None:
    assert places.snapshot() == places.digests
    assert places.server_hits == []
    assert not (REPO / "PWNED_BY_SANDBOX").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_cell_is_blocked(shared: Shared, case: Case) -> None:
    sandbox, places = shared.sandbox, shared.places
    host_child = subprocess.Popen(["sleep", "60"])  # shares the test's process group
    try:
        result = sandbox.run_cell(case.code(places), timeout=case.timeout)
        case.check(result, places)
        assert host_child.poll() is None, "a host process died"
    finally:
        host_child.kill()
        host_child.wait()
    _host_unharmed(places)
    after = sandbox.run_cell("40 + 2", timeout=30)
    assert after.status == "ok" and after.text == "42", after


def test_battery_is_big_enough() -> None:
    assert len(CASES) + len(FRESH_CASES) >= 20


# --- cases that end a sandbox: each gets a fresh one --------------------------------------


def _daemon_dies_with_sandbox(factory: SandboxFactory, places: HostPlaces) -> None:
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        while True:\n"
        "            open('/scratch/heartbeat', 'w').write(str(time.time())); time.sleep(0.05)\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\nprint('started')"
    )
    with factory.open(places.run_dir, places.task_dir, small_policy()) as sandbox:
        uid = sandbox.uid
        assert sandbox.run_cell(code).stdout.strip() == "started"
        beat = places.run_dir / "scratch" / "heartbeat"
        assert beat.exists()
        assert len(factory.processes(sandbox, uid)) >= 2  # kernel + daemon
    assert factory.processes(sandbox, uid) == []
    before = beat.read_text()
    time.sleep(0.3)
    assert beat.read_text() == before, "the daemon outlived the sandbox"


def _disk_fill_is_stopped(factory: SandboxFactory, places: HostPlaces) -> None:
    code = "i = 0\nwhile True:\n    open(f'/scratch/f{i}', 'wb').write(b'0' * 2**20); i += 1"
    with factory.open(places.run_dir, places.task_dir, small_policy(scratch_mb=24)) as sandbox:
        uid = sandbox.uid
        result = sandbox.run_cell(code, timeout=30)
        assert result.status == "killed" and "scratch limit" in (result.message or ""), result
        assert sandbox.run_cell("1+1").status == "killed"  # closed for good
        assert factory.processes(sandbox, uid) == []
    # The limit is polled (`watchdog_interval_s`), so a fast writer overshoots by what it
    # writes in one interval (measured up to ~240 MiB on a fast disk); what must hold is that
    # the writer is dead (nothing grows after the kill) and nothing ran away towards the
    # ~30 s the cell was allowed.
    scratch = places.run_dir / "scratch"
    used = sum(f.stat().st_size for f in scratch.iterdir())
    time.sleep(0.3)
    assert sum(f.stat().st_size for f in scratch.iterdir()) == used
    assert used < 1024 * 2**20


def _cpu_limit_kills(factory: SandboxFactory, places: HostPlaces) -> None:
    with factory.open(places.run_dir, places.task_dir, small_policy(cpu_seconds=3)) as sandbox:
        result = sandbox.run_cell("while True:\n    pass", timeout=30)
        assert result.status == "killed" and "CPU time limit" in (result.message or ""), result
        assert sandbox.run_cell("40 + 2").text == "42"  # restarted with a fresh CPU budget


def _experiment_clock_ends_it(factory: SandboxFactory, places: HostPlaces) -> None:
    policy = small_policy(experiment_timeout_s=3)
    with factory.open(places.run_dir, places.task_dir, policy) as sandbox:
        result = sandbox.run_cell("import time\ntime.sleep(30)", timeout=30)
        # The cell's budget is what is left of the experiment; the watchdog may end it first.
        assert result.status in ("timeout", "killed") and result.duration_s < 10, result
        time.sleep(0.5)
        late = sandbox.run_cell("1+1")
        assert late.status == "killed" and "experiment wall-clock" in (late.message or ""), late


def _symlink_to_host(factory: SandboxFactory, places: HostPlaces) -> None:
    target = str(places.ground_truth)
    code = (
        TRY
        + f"import os\nos.symlink({target!r}, '/scratch/gt')\n"
        + "os.symlink('/', '/scratch/root')\n"
        + "attempt('read via link', lambda: print(open('/scratch/gt').read()))\n"
        + "attempt('write via link', lambda: open('/scratch/root/x', 'w'))"
    )
    owner = os.stat(places.ground_truth).st_uid
    with factory.open(places.run_dir, places.task_dir, small_policy()) as sandbox:
        result = sandbox.run_cell(code)
        blocked(2)(result, places)
        assert GT_MARKER not in result.stdout
        with pytest.raises(SandboxUsageError, match="symlink"):
            sandbox.scratch_file("gt")
        with pytest.raises(SandboxUsageError, match="symlink"):
            sandbox.scratch_file("root/etc/passwd")
    # Giving scratch back to the host user must not follow the planted links.
    assert os.stat(places.ground_truth).st_uid == owner
    assert not Path("/x").exists()


FRESH_CASES = {
    "daemon-dies-with-sandbox": _daemon_dies_with_sandbox,
    "disk-filling-loop": _disk_fill_is_stopped,
    "cpu-time-limit": _cpu_limit_kills,
    "experiment-wall-clock": _experiment_clock_ends_it,
    "symlink-to-host": _symlink_to_host,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FRESH_CASES))
def test_sandbox_ending_case(factory: SandboxFactory, host_places: HostPlaces, name: str) -> None:
    FRESH_CASES[name](factory, host_places)
    _host_unharmed(host_places)
    # The next experiment still works.
    with factory.open(host_places.root / "next", host_places.task_dir, small_policy()) as sandbox:
        assert sandbox.run_cell("40 + 2").text == "42"
