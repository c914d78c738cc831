"""Can this machine isolate a kernel? Preflight (fail closed), uid claims and `check_isolation`."""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from pydantic import BaseModel

from aar.sandbox._errors import SandboxUnavailableError
from aar.sandbox._policy import (
    SandboxPolicy,
    bwrap_command,
    kernel_env,
    load_policy,
    minimal_bwrap,
    seccomp_filter_fd,
)

_INSTALL = "install it with `apt-get install bubblewrap util-linux` (or run tools/setup)"
_preflight_ok: set[str] = set()
_preflight_lock = threading.Lock()


def preflight(policy: SandboxPolicy) -> None:
    """Raise `SandboxUnavailableError` unless bubblewrap can make namespaces here (cached)."""
    if policy.unsafe:
        return
    bwrap = shutil.which("bwrap")
    key = f"{bwrap}:{os.geteuid()}"
    with _preflight_lock:
        if key in _preflight_ok:
            return
        missing = [t for t in ("bwrap", "prlimit") if shutil.which(t) is None]
        if os.geteuid() == 0 and shutil.which("setpriv") is None:
            missing.append("setpriv")
        if missing:
            raise SandboxUnavailableError(
                f"sandbox unavailable: {', '.join(missing)} not found; {_INSTALL}. "
                "Refusing to run untrusted code without isolation."
            )
        cmd = [*minimal_bwrap(policy), "/usr/bin/true"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env={})
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailableError(
                f"sandbox unavailable: bwrap failed to run: {exc}"
            ) from None
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            hint = (
                "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                "user.max_user_namespaces > 0; in a container allow CLONE_NEWUSER) or run as root"
            )
            raise SandboxUnavailableError(
                f"sandbox unavailable: bubblewrap cannot create namespaces "
                f"({detail[-1] if detail else f'exit {proc.returncode}'}); {hint}."
            )
        _preflight_ok.add(key)


class UidClaim:
    """An unprivileged uid reserved for one sandbox (a lock file under /tmp while held).

    One uid per sandbox keeps RLIMIT_NPROC and process ownership separate between sandboxes.
    """

    _dir = Path(tempfile.gettempdir()) / "aar-sandbox-uids"

    def __init__(self, uid_range: tuple[int, int]) -> None:
        self._dir.mkdir(mode=0o700, exist_ok=True)
        lo, hi = uid_range
        start = random.randrange(lo, hi)
        for i in range(hi - lo):
            uid = lo + (start - lo + i) % (hi - lo)
            fd = os.open(self._dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if _uid_has_processes(uid):  # a leftover from a crashed host process: skip it
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise SandboxUnavailableError(f"no free sandbox uid in {uid_range}")

    def release(self) -> None:
        """Give the uid back (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _uid_has_processes(uid: int) -> bool:
    return bool(processes_of_uid(uid))


def processes_of_uid(uid: int) -> list[int]:
    """Host pids of processes whose real uid is `uid` (used to prove nothing outlives a kill)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry.name))
                        break
        except (OSError, ValueError):
            continue
    return pids


class Protection(BaseModel):
    """One protection and whether the probe saw it in effect."""

    name: str
    active: bool
    detail: str


class IsolationReport(BaseModel):
    """What `aar sandbox check` prints: can the sandbox run, and which protections hold."""

    available: bool
    isolation: str
    message: str
    protections: list[Protection] = []

    @property
    def all_active(self) -> bool:
        """True when every protection the probe checks is in effect."""
        return self.available and bool(self.protections) and all(p.active for p in self.protections)


_PROBE = r"""
import json, os, resource, socket
out = {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid()}
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
out["no_new_privs"] = status.get("NoNewPrivs", "").strip() == "1"
out["cap_eff"] = status.get("CapEff", "").strip()
out["interfaces"] = [n for _, n in socket.if_nameindex()]
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1).close(); out["net"] = "connected"
except OSError as e:
    out["net"] = str(e)
try:
    open("/usr/aar-probe", "w"); out["root_ro"] = False
except OSError:
    out["root_ro"] = True
out["visible"] = {p: os.path.exists(p) for p in json.loads(os.environ["PROBE_HIDDEN"])}
out["env"] = sorted(os.environ)
mounts = {l.split()[4]: l.split()[5] for l in open("/proc/self/mountinfo")}
out["noexec"] = {p: "noexec" in mounts.get(p, "") for p in ("/scratch", "/tmp")}
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
out["userns"] = libc.unshare(0x10000000) == 0
out["seccomp"] = status.get("Seccomp", "").strip()
out["rlimits"] = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0]
                  for n in ("AS", "CPU", "NPROC", "FSIZE")}
print(json.dumps(out))
"""


def check_isolation(policy: SandboxPolicy | None = None) -> IsolationReport:
    """Start a throw-away sandbox with the real policy and report which protections hold."""
    policy = policy or load_policy()
    if policy.unsafe:
        return IsolationReport(
            available=True,
            isolation="none",
            message="UNSAFE: isolation is off (sandbox.isolation = 'none'); development only",
        )
    try:
        preflight(policy)
    except SandboxUnavailableError as exc:
        return IsolationReport(available=False, isolation="bwrap", message=str(exc))
    import aar

    repo = str(Path(aar.__file__).resolve().parent.parent)
    # Files, not directories: bwrap creates empty parents of the venv's path (e.g. /work/main).
    hidden = [f"{repo}/pyproject.toml", f"{repo}/runs", f"{repo}/memory", "/etc/passwd"]
    hidden += [str(p) for p in sorted(Path.home().glob("*"))[:3]]
    probe_policy = policy.model_copy(
        update={"kernel_spec": {"argv": ["{python}", "-I", "-c", _PROBE]}}
    )
    claim = UidClaim(policy.uid_range) if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="aar-check-") as tmp:
        root = Path(tmp)
        for sub in ("scratch", "task", "ipc"):
            (root / sub).mkdir()
        env = kernel_env(policy) | {"PROBE_HIDDEN": json.dumps(hidden)}
        try:
            seccomp_fd = seccomp_filter_fd(policy)
        except SandboxUnavailableError as exc:
            return IsolationReport(available=False, isolation="bwrap", message=str(exc))
        cmd = bwrap_command(
            probe_policy,
            scratch=root / "scratch",
            task=root / "task",
            ipc_dir=root / "ipc",
            uid=claim.uid if claim else None,
            env=env,
            seccomp_fd=seccomp_fd,
        )
        fds = () if seccomp_fd is None else (seccomp_fd,)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, pass_fds=fds)
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
            if claim:
                claim.release()
    if proc.returncode != 0:
        return IsolationReport(
            available=False,
            isolation="bwrap",
            message=f"sandbox probe failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}",
        )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    lim = policy.limits
    mib = 1024 * 1024
    expected_env = set(kernel_env(policy)) | {"PROBE_HIDDEN", "PWD"}  # PWD: set by sh
    shown = [p for p, seen in got["visible"].items() if seen]
    prot = [
        Protection(
            name="network",
            active=got["interfaces"] == ["lo"] and got["net"] != "connected",
            detail=f"interfaces {got['interfaces']}; connect 1.1.1.1: {got['net']}",
        ),
        Protection(name="pid namespace", active=got["pid"] < 10, detail=f"probe pid {got['pid']}"),
        Protection(
            name="unprivileged uid",
            active=got["uid"] != 0,
            detail=f"uid {got['uid']}" + (" (own uid, user namespace)" if claim is None else ""),
        ),
        Protection(
            name="no capabilities, no_new_privs",
            active=got["no_new_privs"] and int(got["cap_eff"] or "0", 16) == 0,
            detail=f"CapEff {got['cap_eff']}, NoNewPrivs {got['no_new_privs']}",
        ),
        Protection(name="read-only root", active=got["root_ro"], detail="write to /usr refused"),
        Protection(
            name="seccomp: no user namespaces",
            active=got["seccomp"] == "2" and not got["userns"],
            detail=f"Seccomp mode {got['seccomp']}; unshare(CLONE_NEWUSER) "
            + ("succeeded" if got["userns"] else "refused"),
        ),
        Protection(
            name="host paths hidden",
            active=not shown,
            detail=f"visible: {shown}" if shown else f"not visible: {', '.join(hidden)}",
        ),
        Protection(
            name="environment allow-list",
            active=set(got["env"]) <= expected_env,
            detail=f"{len(got['env'])} variables"
            + (
                f"; unexpected: {sorted(set(got['env']) - expected_env)}"
                if set(got["env"]) - expected_env
                else ""
            ),
        ),
        Protection(
            name="noexec scratch and /tmp",
            active=all(got["noexec"].values()),
            detail=str(got["noexec"]),
        ),
        Protection(
            name="rlimits",
            active=got["rlimits"]
            == {
                "AS": lim.memory_mb * mib,
                "CPU": lim.cpu_seconds,
                "NPROC": lim.max_processes,
                "FSIZE": lim.max_file_mb * mib,
            },
            detail=(
                f"memory {lim.memory_mb} MiB, cpu {lim.cpu_seconds} s, processes "
                f"{lim.max_processes}, file {lim.max_file_mb} MiB"
            ),
        ),
        Protection(
            name="host watchdog",
            active=True,
            detail=(
                f"scratch {lim.scratch_mb} MiB, cell {lim.cell_timeout_s:g} s, experiment "
                f"{lim.experiment_timeout_s:g} s"
            ),
        ),
    ]
    return IsolationReport(
        available=True, isolation="bwrap", message="isolation works", protections=prot
    )
