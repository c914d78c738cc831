"""Escape cases: hostile cells every isolating backend must block.

`ESCAPE_CASES` share one sandbox per backend (a kernel a case kills is restarted by the
sandbox itself); `ENDING_CASES` end their sandbox, so each gets a fresh one and proves no
process outlives it. After every case the host must be unharmed and the sandbox must answer.

Long because it is a catalogue: each case is a short, independent attack with its own check,
and a reviewer audits the battery by reading them one after another.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from aar.sandbox._environment import Sandbox
from aar.sandbox._errors import SandboxUsageError
from aar.sandbox._result import CellResult
from aar.sandbox.conformance._backend import Backend, battery_policy
from aar.sandbox.conformance._checks import (
    TRY,
    Case,
    all_of,
    blocked,
    expect,
    lines,
    prints,
    status_is,
)
from aar.sandbox.conformance._host import GT_MARKER, REPO, SECRET, HostPlaces, fail


def _write_attempts(paths: list[str]) -> str:
    out = [TRY]
    for p in paths:
        out.append(f"attempt({p!r}, lambda: open({p!r}, 'w').write('x'))")
    return "\n".join(out)


def _found_nothing(result: CellResult, places: HostPlaces) -> None:
    expect(result.status == "ok", result)
    expect(GT_MARKER not in result.stdout and SECRET not in result.stdout, result.stdout)
    expect(not lines(result.stdout, "ESCAPED"), result.stdout)
    expect("SEARCHED" in result.stdout, result.stdout)


def _big_file_capped(sandbox: Sandbox) -> None:
    size = sandbox.list_files().get("big", 0)
    expect(size <= 16 * 2**20, f"a file limited to 16 MiB grew to {size} bytes")


def _no_space(result: CellResult, places: HostPlaces) -> None:
    status_is("error", ename="OSError")(result, places)
    expect(result.error is not None and "No space left" in result.error.evalue, result.error)


def _output_capped(result: CellResult, places: HostPlaces) -> None:
    expect(result.truncated, result.message)
    expect(len(result.stdout) + len(result.stderr) <= 20_000, "output over the cap was kept")
    expect("truncated" in (result.message or ""), result.message)


def _fork_limited(result: CellResult, places: HostPlaces) -> None:
    expect(result.status == "ok", result)
    words = result.stdout.split()
    expect("LIMITED" in words and int(words[1]) < 64, result.stdout)


_READ_GT = (
    TRY
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
)

_SECRETS = (
    "import os, glob\n"
    + f"print('ESCAPED env' if any({SECRET!r} in v for v in os.environ.values()) else '')\n"
    + "print('KEYS', sorted(k for k in os.environ\n"
    + "                     if 'KEY' in k or 'AAR' in k or 'PROXY' in k))\n"
    + "for f in glob.glob('/proc/*/environ'):\n"
    + "    try: data = open(f, 'rb').read()\n"
    + "    except OSError: continue\n"
    + f"    if b{SECRET!r} in data: print('ESCAPED', f)\n"
    + "print('SEARCHED')"
)

ESCAPE_CASES = [
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
        all_of(blocked(2), prints("IFACES ['lo']")),
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
            f"attempt_host = {str(p.ground_truth)!r}\n"
            + _READ_GT
            + "\nattempt('host gt', lambda: print(open(attempt_host).read()))"
        ),
        _found_nothing,
    ),
    Case(
        "read-secrets-from-env-and-proc",
        lambda p: _SECRETS,
        all_of(_found_nothing, prints("KEYS []")),
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
        all_of(blocked(2), prints("CAPS 0000000000000000")),
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
        all_of(blocked(2), prints("THREADS OK")),
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
        status_is("error", ename="OSError"),
        after=_big_file_capped,
    ),
    Case(
        "fill-tmp",
        lambda p: "i = 0\nwhile True:\n    open(f'/tmp/f{i}', 'wb').write(b'0' * 2**20); i += 1",
        _no_space,
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
    Case("sys-exit", lambda p: "import sys\nsys.exit(3)", status_is("error", ename="SystemExit")),
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
        _output_capped,
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
        _fork_limited,
    ),
]


# --- cases that end a sandbox: each gets a fresh one --------------------------------------

EndingCase = Callable[[Backend, HostPlaces], None]


def _daemon_dies_with_sandbox(backend: Backend, places: HostPlaces) -> None:
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
    with backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox:
        processes = backend.process_probe(sandbox)
        expect(sandbox.run_cell(code).stdout.strip() == "started", "the daemon did not start")
        expect("heartbeat" in sandbox.list_files(), sandbox.list_files())
        expect(len(processes()) >= 2, "expected the kernel and its daemon")  # bwrap: by uid
    expect(processes() == [], f"processes outlived the sandbox: {processes()}")
    before = sandbox.read_file("heartbeat")
    time.sleep(0.3)
    expect(sandbox.read_file("heartbeat") == before, "the daemon outlived the sandbox")


def _disk_fill_is_stopped(backend: Backend, places: HostPlaces) -> None:
    code = "i = 0\nwhile True:\n    open(f'/scratch/f{i}', 'wb').write(b'0' * 2**20); i += 1"
    with backend.open(places.run_dir, places.task_dir, battery_policy(scratch_mb=24)) as sandbox:
        processes = backend.process_probe(sandbox)
        result = sandbox.run_cell(code, timeout=30)
        expect(result.status == "killed" and "scratch limit" in (result.message or ""), result)
        expect(sandbox.run_cell("1+1").status == "killed", "the sandbox was not closed")
        expect(processes() == [], processes())
    # The limit is polled (`watchdog_interval_s`), so a fast writer overshoots by what it
    # writes in one interval; what must hold is that the writer is dead and nothing ran away
    # towards the ~30 s the cell was allowed.
    used = sum(sandbox.list_files().values())
    time.sleep(0.3)
    expect(sum(sandbox.list_files().values()) == used, "scratch still grows after the kill")
    expect(used < 1024 * 2**20, f"{used} bytes written before the kill")


def _cpu_limit_kills(backend: Backend, places: HostPlaces) -> None:
    with backend.open(places.run_dir, places.task_dir, battery_policy(cpu_seconds=3)) as sandbox:
        result = sandbox.run_cell("while True:\n    pass", timeout=30)
        expect(result.status == "killed" and "CPU time limit" in (result.message or ""), result)
        expect(sandbox.run_cell("40 + 2").text == "42", "no fresh kernel after the CPU limit")


def _experiment_clock_ends_it(backend: Backend, places: HostPlaces) -> None:
    policy = battery_policy(experiment_timeout_s=3)
    with backend.open(places.run_dir, places.task_dir, policy) as sandbox:
        result = sandbox.run_cell("import time\ntime.sleep(30)", timeout=30)
        # The cell's budget is what is left of the experiment; the watchdog may end it first.
        expect(result.status in ("timeout", "killed") and result.duration_s < 10, result)
        time.sleep(0.5)
        late = sandbox.run_cell("1+1")
        expect(late.status == "killed" and "experiment wall-clock" in (late.message or ""), late)


def _symlink_to_host(backend: Backend, places: HostPlaces) -> None:
    target = str(places.ground_truth)
    code = (
        TRY
        + f"import os\nos.symlink({target!r}, '/scratch/gt')\n"
        + "os.symlink('/', '/scratch/root')\n"
        + "attempt('read via link', lambda: print(open('/scratch/gt').read()))\n"
        + "attempt('write via link', lambda: open('/scratch/root/x', 'w'))"
    )
    owner = os.stat(places.ground_truth).st_uid
    with backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox:
        result = sandbox.run_cell(code)
        blocked(2)(result, places)
        expect(GT_MARKER not in result.stdout, result.stdout)
        for path in ("gt", "root/etc/passwd"):
            try:
                sandbox.read_file(path)
            except SandboxUsageError as exc:
                expect("symlink" in str(exc), exc)
            else:
                fail(f"the host followed the planted link {path!r}")
        sandbox.write_file("gt", "host data")  # replaces the link, never writes through it
        expect(sandbox.read_file("gt") == b"host data", "write_file did not replace the link")
    # Giving scratch back to the host user must not follow the planted links.
    expect(os.stat(places.ground_truth).st_uid == owner, "a planted link was followed")
    expect(places.ground_truth.read_text() == GT_MARKER, "the host file behind a link changed")
    expect(not Path("/x").exists(), "/x was written through a link")


ENDING_CASES: dict[str, EndingCase] = {
    "daemon-dies-with-sandbox": _daemon_dies_with_sandbox,
    "disk-filling-loop": _disk_fill_is_stopped,
    "cpu-time-limit": _cpu_limit_kills,
    "experiment-wall-clock": _experiment_clock_ends_it,
    "symlink-to-host": _symlink_to_host,
}
