"""The isolation policy: read from `sandbox/policy.toml`, turned into the kernel's command line.

Everything that decides what the kernel may see or do is data in that file; this module only
assembles it, so an auditor reads the TOML and `kernel_command` below, nothing else.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import sys
import sysconfig
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from aar.errors import validation_message
from aar.sandbox._errors import SandboxUnavailableError, SandboxUsageError
from aar.sandbox._pyenv import Hidden, HideRule, PythonRules, PythonView, masks, placed, python_view


def default_policy_dir() -> Path:
    """The shipped policy: the repository's top-level `sandbox/` (the one place a reviewer
    audits), which a wheel carries inside the package as `aar/_sandbox_policy/`."""
    import aar

    package = Path(aar.__file__).resolve().parent
    packaged = package / "_sandbox_policy"
    return packaged if packaged.is_dir() else package.parent / "sandbox"


class SandboxLimits(BaseModel):
    """Resource limits; see the comments in `sandbox/policy.toml`."""

    memory_mb: int = Field(default=4096, gt=0)
    cpu_seconds: int = Field(default=600, gt=0)
    max_processes: int = Field(default=256, gt=0)
    max_file_mb: int = Field(default=512, gt=0)
    scratch_mb: int = Field(default=1024, gt=0)
    tmp_mb: int = Field(default=256, gt=0)
    shm_mb: int = Field(default=64, gt=0)
    cell_timeout_s: float = Field(default=120.0, gt=0)
    interrupt_grace_s: float = Field(default=2.0, gt=0)
    experiment_timeout_s: float = Field(default=1800.0, gt=0)
    output_limit_chars: int = Field(default=100_000, gt=0)
    max_display_items: int = Field(default=50, gt=0)
    watchdog_interval_s: float = Field(default=0.25, gt=0)


class SandboxMounts(BaseModel):
    """What of the host the kernel sees, and where (the Python view is added to it)."""

    readonly: list[str] = ["/usr/bin", "/usr/lib/{multiarch}", "/usr/lib64"]
    readonly_try: list[str] = []
    usr_links: list[str] = ["/bin", "/sbin", "/lib", "/lib64"]
    task: str = "/task"
    scratch: str = "/scratch"
    kernel_lib: str = "/opt/aar"
    noexec: list[str] = ["/scratch", "/tmp", "/dev/shm"]


class SeccompPolicy(BaseModel):
    """Syscalls the kernel may not make (see `_seccomp.py` for the fixed part)."""

    enabled: bool = True
    deny: list[str] = []


class EnvRules(BaseModel):
    """Host variables copied into the kernel (`passthrough`) unless they match `deny`."""

    passthrough: list[str] = []
    deny: list[str] = []


class SandboxPolicy(BaseModel):
    """The whole isolation policy of a sandboxed kernel (a pydantic view of `policy.toml`)."""

    isolation: Literal["bwrap", "none"] = "bwrap"
    namespaces: list[str]
    bwrap_flags: list[str] = []
    uid_range: tuple[int, int] = (1_600_000, 1_700_000)
    limits: SandboxLimits = SandboxLimits()
    mounts: SandboxMounts = SandboxMounts()
    env: dict[str, str] = {}
    env_rules: EnvRules = EnvRules()
    seccomp: SeccompPolicy = SeccompPolicy()
    kernel_spec: dict[str, object] = Field(
        default_factory=dict, description="`sandbox/kernel/kernel.json` (argv with {python})."
    )
    kernel_lib_dir: Path = Field(description="Host directory bound at `mounts.kernel_lib`.")
    pool_size: int = Field(default=1, ge=0)
    python: PythonRules = PythonRules()
    label_sources: tuple[HideRule, ...] = Field(
        default=(), description="Tasks' label sources, hidden like `python.hide`."
    )

    @property
    def unsafe(self) -> bool:
        """True when nothing is isolated (development mode)."""
        return self.isolation == "none"

    def with_limits(self, **changes: float) -> SandboxPolicy:
        """A copy with some limits changed (tests and benchmarks use small ones)."""
        return self.model_copy(update={"limits": self.limits.model_copy(update=changes)})

    def with_label_sources(self, sources: Iterable[object]) -> SandboxPolicy:
        """A copy that also hides `sources` (e.g. `aar.bench.label_sources()`)."""
        rules = tuple(HideRule.model_validate(s, from_attributes=True) for s in sources)
        return self.model_copy(update={"label_sources": (*self.label_sources, *rules)})

    def python_view(self) -> PythonView:
        """The allow-listed Python environment the kernel gets (computed once per process)."""
        return python_view(self.python, self.label_sources)


_SETTINGS_LIMITS = (
    "memory_mb",
    "cpu_seconds",
    "max_processes",
    "max_file_mb",
    "scratch_mb",
    "cell_timeout_s",
    "experiment_timeout_s",
    "output_limit_chars",
)


def load_policy(policy_dir: Path | None = None, *, use_settings: bool = True) -> SandboxPolicy:
    """Read `policy.toml` and `kernel/kernel.json`; explicitly set `[sandbox]` settings win."""
    settings = None
    if use_settings:
        from aar.config import get_settings

        settings = get_settings().sandbox
        if policy_dir is None and settings.policy_dir is not None:
            policy_dir = settings.policy_dir
    root = Path(policy_dir) if policy_dir is not None else default_policy_dir()
    try:
        raw = tomllib.loads((root / "policy.toml").read_text())
        spec = json.loads((root / "kernel" / "kernel.json").read_text())
    except FileNotFoundError as exc:
        raise SandboxUsageError(f"sandbox policy file missing: {exc.filename}") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SandboxUsageError(f"sandbox policy in {root} is not valid: {exc}") from None
    raw["kernel_spec"] = spec
    raw["kernel_lib_dir"] = root / "kernel"
    if settings is not None:
        explicit = settings.model_fields_set
        limits = raw.setdefault("limits", {})
        for name in _SETTINGS_LIMITS:
            if name in explicit:
                limits[name] = getattr(settings, name)
        if "isolation" in explicit:
            raw["isolation"] = settings.isolation
        raw["pool_size"] = settings.pool_size
    try:
        return SandboxPolicy.model_validate(raw)
    except ValidationError as exc:
        message = validation_message(exc, prefix="sandbox policy ", model=SandboxPolicy)
        raise SandboxUsageError(message) from None


def kernel_env(policy: SandboxPolicy, host_env: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: the policy's fixed values plus allowed, non-secret host names."""
    host = dict(os.environ) if host_env is None else host_env
    env = {k: v for k, v in policy.env.items() if not _denied(k, policy)}
    for name in policy.env_rules.passthrough:
        if name in host and not _denied(name, policy):
            env[name] = host[name]
    return env


def _denied(name: str, policy: SandboxPolicy) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in policy.env_rules.deny)


def bwrap_executable() -> str:
    """The bwrap found on PATH now, as an absolute path, so the one checked is the one run."""
    return shutil.which("bwrap") or "bwrap"


def _path_values() -> dict[str, str]:
    """Values for `{...}` in the policy's paths."""
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if not multiarch:
        raise SandboxUnavailableError(
            "sandbox unavailable: this Python does not report its multiarch library directory; "
            "list the shared-library directories in sandbox/policy.toml [mounts] readonly"
        )
    return {"multiarch": multiarch}


def kernel_argv(policy: SandboxPolicy) -> list[str]:
    """The ipykernel command from `kernel.json`, `{connection_file}` left for jupyter-client."""
    spec_argv = policy.kernel_spec.get("argv")
    argv = [str(a) for a in spec_argv] if isinstance(spec_argv, list) else []
    if not argv:
        raise SandboxUsageError("sandbox/kernel/kernel.json has no argv")
    return [sys.executable if a == "{python}" else a for a in argv]


def limit_args(policy: SandboxPolicy) -> list[str]:
    """prlimit options for the kernel process (inherited by everything it starts)."""
    lim = policy.limits
    mib = 1024 * 1024
    return [
        f"--as={lim.memory_mb * mib}",
        # soft:hard: SIGXCPU at the limit (so the cause is clear), SIGKILL 5 s later
        f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 5}",
        f"--nproc={lim.max_processes}",
        f"--fsize={lim.max_file_mb * mib}",
        "--core=0",
    ]


def bwrap_command(
    policy: SandboxPolicy,
    *,
    scratch: Path,
    task: Path,
    ipc_dir: Path,
    uid: int | None,
    env: dict[str, str],
    seccomp_fd: int | None = None,
) -> list[str]:
    """The full command that starts the kernel under bubblewrap (see `sandbox/policy.toml`).

    `uid` is the unprivileged uid to drop to (aar runs as root) or None (aar runs as a normal
    user: bwrap's user namespace keeps that uid; remounts and the uid drop are skipped).
    `seccomp_fd` is an inherited descriptor holding the filter (see `seccomp_filter_fd`).
    """
    m = policy.mounts
    cmd = _Mounts([bwrap_executable(), *policy.namespaces, *policy.bwrap_flags])
    if seccomp_fd is not None:
        cmd.args.extend(["--seccomp", str(seccomp_fd)])
    cmd.fresh_filesystems(policy.limits)
    cmd.host_paths(policy)
    for link in m.usr_links:
        if os.path.islink(link):
            cmd.args.extend(["--symlink", os.readlink(link), link])
            cmd.made.add(link)
        elif os.path.isdir(link):
            cmd.mount("--ro-bind", link, link)
    cmd.mount("--bind", str(ipc_dir), str(ipc_dir))
    cmd.mount("--ro-bind", str(task), m.task)
    cmd.mount("--bind", str(scratch), m.scratch)
    cmd.mount("--ro-bind", str(policy.kernel_lib_dir), m.kernel_lib)
    cmd.args.append("--clearenv")
    path = ":".join([m.kernel_lib, *policy.python_view().extra_site_dirs])
    for key, value in (env | {"PYTHONPATH": path}).items():
        cmd.args.extend(["--setenv", key, value])
    cmd.args.extend(["--chdir", m.scratch, "--"])
    return [*cmd.args, *_drop_privileges(policy, uid), *kernel_argv(policy)]


class _Mounts:
    """bwrap arguments being built, and the directories already present inside."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.made: set[str] = {"/"}

    def parents(self, dest: str) -> None:
        """bwrap creates missing parents with mode 0700, which an unprivileged uid cannot
        traverse: create them explicitly world-traversable."""
        parts = Path(dest).parent.parts
        for i in range(2, len(parts) + 1):
            p = str(Path(*parts[:i]))
            if p not in self.made:
                self.args.extend(["--perms", "0755", "--dir", p])
                self.made.add(p)

    def mount(self, kind: str, src: str, dest: str) -> None:
        self.parents(dest)
        self.args.extend([kind, src, dest])
        self.made.add(dest)

    def fresh_filesystems(self, limits: SandboxLimits) -> None:
        """/proc, /dev and size-limited tmpfs first: a later bind under /tmp (a checkout or
        venv cloned there, as CI may do) must land on top of the tmpfs, not be hidden by it."""
        mib = 1024 * 1024
        self.args.extend(["--proc", "/proc", "--dev", "/dev"])
        for size, dest in ((limits.shm_mb, "/dev/shm"), (limits.tmp_mb, "/tmp")):
            self.args.extend(["--perms", "1777", "--size", str(size * mib), "--tmpfs", dest])
        self.made.add("/tmp")

    def host_paths(self, policy: SandboxPolicy) -> None:
        """The read-only host paths, then empty mounts over the hidden data inside them."""
        seen: set[str] = set()
        for path in bound_paths(policy):
            if path not in seen and not any(path.startswith(s + "/") for s in seen):
                seen.add(path)
                self.mount("--ro-bind", path, path)
        for hidden in masks(hidden_paths(policy)):
            if hidden.is_dir:
                self.args.extend(
                    ["--perms", "0555", "--tmpfs", hidden.path, "--remount-ro", hidden.path]
                )
            else:
                self.args.extend(["--ro-bind", "/dev/null", hidden.path])


def _drop_privileges(policy: SandboxPolicy, uid: int | None) -> list[str]:
    """rlimits, and (as root) the noexec remounts then setpriv to the unprivileged uid."""
    inner = ["prlimit", *limit_args(policy), "--"]
    if uid is None:
        return inner
    remount = " && ".join(
        f"mount -o remount,bind,noexec,nosuid,nodev {shlex.quote(p)}" for p in policy.mounts.noexec
    )
    return [
        "/bin/sh", "-c", f'{remount} && exec "$@"', "aar-sandbox",
        *inner,
        "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
        "--inh-caps=-all", "--bounding-set=-all", "--",
    ]  # fmt: skip


def bound_paths(policy: SandboxPolicy) -> list[str]:
    """Host paths bound read-only at the same path: system mounts, then the Python view."""
    vals = _path_values()
    system = [os.path.realpath(raw.format(**vals)) for raw in policy.mounts.readonly]
    system += [os.path.realpath(p) for p in policy.mounts.readonly_try if os.path.exists(p)]
    return [*system, *policy.python_view().binds]


def hidden_paths(policy: SandboxPolicy) -> list[Hidden]:
    """Everything the kernel must not see, masked wherever it lies inside a bound path."""
    return placed(policy.python_view().hidden, bound_paths(policy))


def minimal_bwrap(policy: SandboxPolicy) -> list[str]:
    """The smallest sandbox with the policy's namespaces, for the preflight test."""
    cmd = [bwrap_executable(), *policy.namespaces, "--ro-bind", "/usr", "/usr"]
    for link in policy.mounts.usr_links:
        if os.path.islink(link):
            cmd.extend(["--symlink", os.readlink(link), link])
    return [*cmd, "--proc", "/proc", "--dev", "/dev", "--"]


def unsandboxed_command(policy: SandboxPolicy) -> list[str]:
    """Development mode (`isolation = "none"`): the same limits, no isolation at all."""
    return ["prlimit", *limit_args(policy), "--", *kernel_argv(policy)]


def seccomp_filter_fd(policy: SandboxPolicy) -> int | None:
    """A descriptor with the policy's seccomp filter for bwrap, or None when disabled.

    Raises `SandboxUnavailableError` when it is enabled but this architecture has no table.
    """
    from aar.sandbox import _seccomp
    from aar.sandbox._errors import SandboxUnavailableError

    if not policy.seccomp.enabled or policy.unsafe:
        return None
    if not _seccomp.supported():
        raise SandboxUnavailableError(
            "sandbox unavailable: no seccomp syscall table for this CPU architecture; "
            "set `[seccomp] enabled = false` in sandbox/policy.toml to run without it"
        )
    try:
        return _seccomp.filter_fd(policy.seccomp.deny)
    except ValueError as exc:
        raise SandboxUsageError(f"sandbox policy seccomp.deny: {exc}") from None
