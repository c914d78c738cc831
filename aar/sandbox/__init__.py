"""Sandboxed Jupyter kernels for untrusted experiment code (ipykernel under bubblewrap).

`KernelSandbox` runs cells in an isolated kernel bound to one experiment directory;
`KernelPool` keeps kernels warm; `check_isolation` reports which protections hold here. The
policy (namespaces, mounts, limits, environment, kernel spec) lives in the top-level
`sandbox/` directory.
"""

from aar.sandbox._errors import SandboxUnavailableError, SandboxUsageError
from aar.sandbox._isolation import IsolationReport, Protection, check_isolation
from aar.sandbox._kernel import KernelSandbox
from aar.sandbox._notebook import split_cells
from aar.sandbox._policy import SandboxLimits, SandboxPolicy, load_policy
from aar.sandbox._pool import KernelPool
from aar.sandbox._result import CellError, CellResult, CellStatus, DisplayItem

__all__ = [
    "CellError",
    "CellResult",
    "CellStatus",
    "DisplayItem",
    "IsolationReport",
    "KernelPool",
    "KernelSandbox",
    "Protection",
    "SandboxLimits",
    "SandboxPolicy",
    "SandboxUnavailableError",
    "SandboxUsageError",
    "check_isolation",
    "load_policy",
    "split_cells",
]
