"""How a kernel process is started: under bubblewrap, or (development only) on the host.

A `Launch` is plain data (the command, its environment, inherited descriptors); building it is
the only place the two local backends differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from aar.sandbox._layout import ExperimentDir
from aar.sandbox._policy import (
    SandboxPolicy,
    bwrap_command,
    kernel_env,
    seccomp_filter_fd,
    unsandboxed_command,
)


@dataclass
class Launch:
    """One kernel start: the argv jupyter-client runs, in `cwd`, with `env`."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    pass_fds: tuple[int, ...] = ()
    socket_owner: int | None = None
    """The unprivileged uid that must be able to create the kernel's sockets."""
    close_after_start: list[int] = field(default_factory=list)

    def started(self) -> None:
        """Close what only the child needed (the seccomp filter's descriptor)."""
        for fd in self.close_after_start:
            os.close(fd)
        self.close_after_start.clear()


def bwrap_launch(
    policy: SandboxPolicy, layout: ExperimentDir, ipc_dir: Path, work_dir: Path, uid: int | None
) -> Launch:
    """The kernel in bubblewrap (see `sandbox/policy.toml`); `uid` None keeps the user's uid."""
    seccomp_fd = seccomp_filter_fd(policy)
    fds = () if seccomp_fd is None else (seccomp_fd,)
    try:
        argv = bwrap_command(
            policy,
            scratch=layout.scratch,
            task=layout.task,
            ipc_dir=ipc_dir,
            uid=uid,
            env=kernel_env(policy),
            seccomp_fd=seccomp_fd,
        )
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return Launch(
        argv=argv,
        env={"PATH": policy.env.get("PATH", "/usr/bin:/bin")},
        cwd=work_dir,
        pass_fds=fds,
        socket_owner=uid,
        close_after_start=list(fds),
    )


def host_launch(policy: SandboxPolicy, layout: ExperimentDir, work_dir: Path) -> Launch:
    """Development mode: the same limits and environment allow-list, no isolation."""
    home = work_dir / "home"
    home.mkdir(exist_ok=True)
    env = kernel_env(policy) | {
        "HOME": str(home),
        "IPYTHONDIR": str(home / ".ipython"),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(home / ".jupyter" / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / ".jupyter" / "runtime"),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "PYTHONPATH": str(policy.kernel_lib_dir),
        "SANDBOX_TASK_DIR": str(layout.task),
        "SANDBOX_SCRATCH_DIR": str(layout.scratch),
    }
    return Launch(argv=unsandboxed_command(policy), env=env, cwd=layout.scratch)
