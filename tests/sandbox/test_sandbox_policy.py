"""The policy files and the command line built from them (no kernel started)."""

from __future__ import annotations

from pathlib import Path

import pytest

import aar
from aar.config import get_settings
from aar.sandbox import SandboxUsageError, load_policy, split_cells
from aar.sandbox._policy import bwrap_command, kernel_env

REPO = Path(aar.__file__).resolve().parent.parent


def test_environment_is_an_allow_list() -> None:
    policy = load_policy(use_settings=False)
    host = {
        "OPENAI_API_KEY": "sk-x",
        "AAR_MEMORY_URL": "http://x",
        "https_proxy": "http://p",
        "HOME": "/root",
        "TZ": "UTC",
        "PATH": "/root/.pyenv/bin",
    }
    env = kernel_env(policy, host)
    assert env["TZ"] == "UTC"  # passthrough
    assert env["HOME"] == "/tmp" and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert not {"OPENAI_API_KEY", "AAR_MEMORY_URL", "https_proxy"} & set(env)


def test_command_binds_only_what_the_kernel_needs(tmp_path: Path) -> None:
    policy = load_policy(use_settings=False)
    dirs = {name: tmp_path / name for name in ("scratch", "task", "ipc")}
    cmd = bwrap_command(
        policy,
        scratch=dirs["scratch"],
        task=dirs["task"],
        ipc_dir=dirs["ipc"],
        uid=1600001,
        env={},
        seccomp_fd=9,
    )
    binds = [(cmd[i], cmd[i + 1], cmd[i + 2]) for i, a in enumerate(cmd) if a.endswith("bind")]
    sources = {src for _, src, _ in binds}
    assert str(REPO) not in sources and "/" not in sources and "/etc" not in sources
    writable = [(src, dest) for kind, src, dest in binds if kind == "--bind"]
    assert writable == [(str(dirs["ipc"]), str(dirs["ipc"])), (str(dirs["scratch"]), "/scratch")]
    assert {"--unshare-net", "--unshare-pid", "--die-with-parent", "--clearenv"} <= set(cmd)
    assert "--new-session" not in cmd  # it would break the kernel's interrupt handling
    assert "--reuid=1600001" in cmd and "--no-new-privs" in cmd
    assert "{connection_file}" in cmd
    assert cmd[cmd.index("--seccomp") + 1] == "9"


def test_settings_override_only_explicit_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AAR_SANDBOX__MEMORY_MB", "2048")
    get_settings.cache_clear()
    try:
        policy = load_policy()
    finally:
        get_settings.cache_clear()
    assert policy.limits.memory_mb == 2048
    assert policy.limits.cpu_seconds == load_policy(use_settings=False).limits.cpu_seconds


def test_bad_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "kernel.json").write_text("{}")
    (tmp_path / "policy.toml").write_text('namespaces = []\n[limits]\nmemory_mb = "lots"\n')
    with pytest.raises(SandboxUsageError, match=r"limits\.memory_mb"):
        load_policy(tmp_path, use_settings=False)
    with pytest.raises(SandboxUsageError, match="missing"):
        load_policy(tmp_path / "nowhere", use_settings=False)


def test_split_cells_on_percent_markers() -> None:
    source = "import x\n\n# %% load\ny = 1\n#%%\n\n# %%\nprint(y)\n"
    assert split_cells(source) == ["import x", "y = 1", "print(y)"]
    assert split_cells("") == []
