"""Every executed cell goes into the experiment's `.ipynb` (nbformat v4, opens in Jupyter)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
from nbformat import v4

from aar.sandbox._result import CellResult

_CELL_MARK = re.compile(r"^# ?%%.*$", re.MULTILINE)


def split_cells(source: str) -> list[str]:
    """Split a script on `# %%` lines (Jupyter / VS Code convention); drop empty cells."""
    parts = _CELL_MARK.split(source)
    return [part.strip("\n") for part in parts if part.strip()]


class NotebookLog:
    """Appends cells with their outputs and rewrites the notebook atomically after each one."""

    def __init__(self, path: Path, *, unsafe: bool, display_name: str) -> None:
        self.path = path
        self.nb = v4.new_notebook()
        self.nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": display_name,
            "language": "python",
        }
        self.nb.metadata["language_info"] = {"name": "python"}
        self.nb.metadata["aar"] = {"isolation": "none" if unsafe else "bwrap", "unsafe": unsafe}

    def add(self, code: str, result: CellResult) -> None:
        """Record one cell and save."""
        outputs = []
        if result.stdout:
            outputs.append(v4.new_output("stream", name="stdout", text=result.stdout))
        if result.stderr:
            outputs.append(v4.new_output("stream", name="stderr", text=result.stderr))
        for item in result.display:
            if item.kind == "execute_result":
                outputs.append(
                    v4.new_output(
                        "execute_result",
                        data=item.data,
                        metadata=item.metadata,
                        execution_count=result.execution_count,
                    )
                )
            else:
                outputs.append(
                    v4.new_output("display_data", data=item.data, metadata=item.metadata)
                )
        if result.error is not None:
            outputs.append(
                v4.new_output(
                    "error",
                    ename=result.error.ename,
                    evalue=result.error.evalue,
                    traceback=result.error.traceback,
                )
            )
        if result.message:
            outputs.append(v4.new_output("stream", name="stderr", text=f"[aar] {result.message}\n"))
        cell = v4.new_code_cell(
            source=code, execution_count=result.execution_count, outputs=outputs
        )
        cell.metadata["aar"] = {
            "status": result.status,
            "duration_s": round(result.duration_s, 4),
            "truncated": result.truncated,
            "unsafe": result.unsafe,
        }
        self.nb.cells.append(cell)
        self.save()

    def save(self) -> None:
        """Validate and write via a temporary file, so a crash never leaves half a notebook."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.validate(self.nb)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            nbformat.write(self.nb, fh)
        os.replace(tmp, self.path)
