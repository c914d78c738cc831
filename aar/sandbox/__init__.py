"""Sandboxed Jupyter kernels for untrusted experiment code.

`Sandbox` is the interface every backend implements; backends register by name
(`register_sandbox`, `sandbox_backend`): `bwrap` (ipykernel under bubblewrap, the default)
and `none` (development only, unsafe). `KernelSandbox` is the local implementation,
`KernelPool` keeps kernels warm, `check_isolation` reports which protections hold here, and
`aar.sandbox.conformance` is the battery every backend must pass. The policy (namespaces,
mounts, the allow-listed Python, hidden data, limits, environment, kernel spec) lives in the
top-level `sandbox/` directory.
"""

from aar.sandbox._environment import (
    MAX_READ_BYTES,
    Sandbox,
    SandboxFactory,
    register_sandbox,
    sandbox_backend,
    sandbox_backends,
)
from aar.sandbox._errors import SandboxUnavailableError, SandboxUsageError
from aar.sandbox._isolation import HiddenReport, IsolationReport, Protection, check_isolation
from aar.sandbox._kernel import KernelSandbox
from aar.sandbox._layout import read_scratch_file, scratch_files
from aar.sandbox._notebook import split_cells
from aar.sandbox._policy import SandboxLimits, SandboxPolicy, default_policy_dir, load_policy
from aar.sandbox._pool import KernelPool
from aar.sandbox._pyenv import HideRule, PythonRules
from aar.sandbox._result import CellError, CellResult, CellStatus, DisplayItem

__all__ = [
    "MAX_READ_BYTES",
    "CellError",
    "CellResult",
    "CellStatus",
    "DisplayItem",
    "HiddenReport",
    "HideRule",
    "IsolationReport",
    "KernelPool",
    "KernelSandbox",
    "Protection",
    "PythonRules",
    "Sandbox",
    "SandboxFactory",
    "SandboxLimits",
    "SandboxPolicy",
    "SandboxUnavailableError",
    "SandboxUsageError",
    "check_isolation",
    "default_policy_dir",
    "load_policy",
    "read_scratch_file",
    "register_sandbox",
    "sandbox_backend",
    "sandbox_backends",
    "scratch_files",
    "split_cells",
]
