"""What one executed cell produced: the contract between the sandbox and its callers."""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, Field

CellStatus = Literal["ok", "error", "timeout", "killed", "oom"]


class CellError(BaseModel):
    """The exception a cell raised, as the kernel reported it."""

    ename: str
    evalue: str
    traceback: list[str] = []


class DisplayItem(BaseModel):
    """A rich output: `display_data` (plots, HTML) or the cell's `execute_result`."""

    kind: Literal["display_data", "execute_result"]
    data: dict[str, Any]
    """MIME type -> content; `image/png` is base64 as in Jupyter messages."""
    metadata: dict[str, Any] = {}


class CellResult(BaseModel):
    """The outcome of `KernelSandbox.run_cell`.

    `status`: `ok`; `error` (the cell raised); `timeout` (cell wall clock exceeded: the
    kernel was interrupted, or killed and restarted when it ignored the interrupt); `killed`
    (the kernel died or a sandbox limit ended it: `message` says which); `oom` (memory limit).
    """

    status: CellStatus
    stdout: str = ""
    stderr: str = ""
    display: list[DisplayItem] = []
    error: CellError | None = None
    duration_s: float = 0.0
    peak_memory_mb: float | None = Field(
        default=None, description="Peak resident memory of the kernel during the cell."
    )
    cpu_s: float | None = Field(
        default=None, description="CPU seconds the kernel used during the cell (if measured)."
    )
    execution_count: int | None = None
    truncated: bool = Field(default=False, description="Output over the cap was dropped.")
    message: str | None = Field(default=None, description="What the sandbox did and why.")
    unsafe: bool = Field(default=False, description="Produced without isolation.")

    @property
    def ok(self) -> bool:
        """True when the cell ran to completion without an exception."""
        return self.status == "ok"

    @property
    def text(self) -> str:
        """`text/plain` of the execute result, if any (e.g. `'2'` for `1+1`)."""
        for item in self.display:
            if item.kind == "execute_result":
                return str(item.data.get("text/plain", ""))
        return ""

    @property
    def images(self) -> list[bytes]:
        """Decoded PNG images the cell displayed (e.g. matplotlib figures)."""
        return [
            base64.b64decode(item.data["image/png"])
            for item in self.display
            if "image/png" in item.data
        ]

    def summary(self) -> str:
        """One line: the error and what the sandbox did, for CLI and JSON output."""
        parts = [f"{self.error.ename}: {self.error.evalue}"] if self.error is not None else []
        return "; ".join([*parts, *([self.message] if self.message else [])])
