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
from typing import Any

from pydantic import BaseModel, Field

from aar.sandbox._errors import SandboxUnavailableError
from aar.sandbox._policy import (
    SandboxPolicy,
    bwrap_command,
    hidden_paths,
    kernel_env,
    load_policy,
    minimal_bwrap,
    seccomp_filter_fd,
)
from aar.sandbox._procfs import processes_of_uid
from aar.sandbox._pyenv import Hidden

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


class Protection(BaseModel):
    """One protection and whether the probe saw it in effect."""

    name: str
    active: bool
    detail: str


class HiddenReport(BaseModel):
    """One thing the kernel must not see, why, how it is hidden, and what the probe saw."""

    path: str
    why: str
    how: str = Field(description="'masked' (an empty mount over it) or 'not bound'.")
    visible: bool = Field(description="The probe could read content at this path.")


class IsolationReport(BaseModel):
    """What `aar sandbox check` prints: can the sandbox run, which protections hold, and
    what is hidden from the kernel and why."""

    available: bool
    isolation: str
    message: str
    protections: list[Protection] = []
    hidden: list[HiddenReport] = []
    distributions: list[str] = Field(default=[], description="Bound into the kernel.")

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
def visible(p):
    try:
        if os.path.isdir(p):
            return bool(os.listdir(p))
        with open(p, "rb") as fh:
            return bool(fh.read(1))
    except OSError:
        return False
out["visible"] = {p: visible(p) for p in json.loads(os.environ["PROBE_HIDDEN"])}
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
    """Start a throw-away sandbox with the real policy and report which protections hold.

    Pass a policy with the tasks' label sources (`policy.with_label_sources(...)`) to have
    them listed and probed too.
    """
    policy = policy or load_policy()
    if policy.unsafe:
        return IsolationReport(
            available=True,
            isolation="none",
            message="UNSAFE: isolation is off (sandbox.isolation = 'none'); development only",
        )
    try:
        preflight(policy)
        view = policy.python_view()
        hidden = _hidden_to_probe(hidden_paths(policy))
        got = _run_probe(policy, [h.path for h in hidden])
    except SandboxUnavailableError as exc:
        return IsolationReport(available=False, isolation="bwrap", message=str(exc))
    reports = [h.model_copy(update={"visible": got["visible"][h.path]}) for h in hidden]
    return IsolationReport(
        available=True,
        isolation="bwrap",
        message="isolation works",
        protections=_protections(got, policy, reports),
        hidden=reports,
        distributions=list(view.distributions),
    )


def _hidden_to_probe(view_hidden: list[Hidden]) -> list[HiddenReport]:
    """Host places the kernel must not see: the view's hidden paths and a few host ones."""
    import aar

    repo = Path(aar.__file__).resolve().parent.parent
    host = [
        # Files, not directories: bwrap creates empty parents of bound paths (e.g. the repo
        # holding .venv), so only their contents are meaningful.
        (repo / "pyproject.toml", "the repository (aar's source, tests, runs/, memory/)"),
        (repo / "runs", "research sessions' workspaces"),
        (repo / "memory", "the findings memory"),
        (Path("/etc/passwd"), "host system configuration"),
        *((p, "the host user's home") for p in sorted(Path.home().glob("*"))[:3]),
    ]
    out = [HiddenReport(path=h.path, why=h.why, how=h.how, visible=False) for h in view_hidden]
    out += [HiddenReport(path=str(p), why=w, how="not bound", visible=False) for p, w in host]
    return list({r.path: r for r in out}.values())


def _run_probe(policy: SandboxPolicy, hidden: list[str]) -> dict[str, Any]:
    """Run `_PROBE` in a sandbox built from the real policy; its findings as a dict."""
    probe_policy = policy.model_copy(
        update={"kernel_spec": {"argv": ["{python}", "-I", "-c", _PROBE]}}
    )
    claim = UidClaim(policy.uid_range) if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="aar-check-") as tmp:
        root = Path(tmp)
        for sub in ("scratch", "task", "ipc"):
            (root / sub).mkdir()
        env = kernel_env(policy) | {"PROBE_HIDDEN": json.dumps(hidden)}
        seccomp_fd = seccomp_filter_fd(policy)
        fds = () if seccomp_fd is None else (seccomp_fd,)
        try:
            cmd = bwrap_command(
                probe_policy,
                scratch=root / "scratch",
                task=root / "task",
                ipc_dir=root / "ipc",
                uid=claim.uid if claim else None,
                env=env,
                seccomp_fd=seccomp_fd,
            )
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, pass_fds=fds)
        finally:
            for fd in fds:
                os.close(fd)
            if claim:
                claim.release()
    if proc.returncode != 0:
        raise SandboxUnavailableError(
            f"sandbox probe failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
        )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    got["own_uid"] = claim is None
    return got


def _protections(
    got: dict[str, Any], policy: SandboxPolicy, hidden: list[HiddenReport]
) -> list[Protection]:
    return [*_process_protections(got), *_view_protections(got, policy, hidden),
            *_limit_protections(got, policy)]  # fmt: skip


def _process_protections(got: dict[str, Any]) -> list[Protection]:
    """Namespaces, identity and privileges, as the probe saw them."""
    return [
        Protection(
            name="network",
            active=got["interfaces"] == ["lo"] and got["net"] != "connected",
            detail=f"interfaces {got['interfaces']}; connect 1.1.1.1: {got['net']}",
        ),
        Protection(name="pid namespace", active=got["pid"] < 10, detail=f"probe pid {got['pid']}"),
        Protection(
            name="unprivileged uid",
            active=got["uid"] != 0,
            detail=f"uid {got['uid']}" + (" (own uid, user namespace)" if got["own_uid"] else ""),
        ),
        Protection(
            name="no capabilities, no_new_privs",
            active=got["no_new_privs"] and int(got["cap_eff"] or "0", 16) == 0,
            detail=f"CapEff {got['cap_eff']}, NoNewPrivs {got['no_new_privs']}",
        ),
        Protection(
            name="seccomp: no user namespaces",
            active=got["seccomp"] == "2" and not got["userns"],
            detail=f"Seccomp mode {got['seccomp']}; unshare(CLONE_NEWUSER) "
            + ("succeeded" if got["userns"] else "refused"),
        ),
    ]


def _view_protections(
    got: dict[str, Any], policy: SandboxPolicy, hidden: list[HiddenReport]
) -> list[Protection]:
    """What the kernel can see: files, hidden data, environment."""
    expected_env = set(kernel_env(policy)) | {"PROBE_HIDDEN", "PWD"}  # PWD: set by sh
    unexpected = sorted(set(got["env"]) - expected_env)
    shown = [h.path for h in hidden if h.visible]
    masked = sum(h.how == "masked" for h in hidden)
    return [
        Protection(name="read-only root", active=got["root_ro"], detail="write to /usr refused"),
        Protection(
            name="ground truth and host paths hidden",
            active=not shown,
            detail=f"VISIBLE: {shown}"
            if shown
            else f"{len(hidden)} paths checked from inside, none readable ({masked} masked)",
        ),
        Protection(
            name="environment allow-list",
            active=not unexpected,
            detail=f"{len(got['env'])} variables"
            + (f"; unexpected: {unexpected}" if unexpected else ""),
        ),
        Protection(
            name="noexec scratch and /tmp",
            active=all(got["noexec"].values()),
            detail=str(got["noexec"]),
        ),
    ]


def _limit_protections(got: dict[str, Any], policy: SandboxPolicy) -> list[Protection]:
    lim = policy.limits
    mib = 1024 * 1024
    wanted = {
        "AS": lim.memory_mb * mib,
        "CPU": lim.cpu_seconds,
        "NPROC": lim.max_processes,
        "FSIZE": lim.max_file_mb * mib,
    }
    return [
        Protection(
            name="rlimits",
            active=got["rlimits"] == wanted,
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
