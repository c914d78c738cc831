"""Every executed cell goes into the experiment's `.ipynb` (nbformat v4, opens in Jupyter)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from pathlib import Path

import nbformat
from nbformat import v4

from aar.sandbox._result import CellResult

_COALESCE_S = 0.2
_CELL_MARK = re.compile(r"^# ?%%.*$", re.MULTILINE)


def split_cells(source: str) -> list[str]:
    """Split a script on `# %%` lines (Jupyter / VS Code convention); drop empty cells."""
    parts = _CELL_MARK.split(source)
    return [part.strip("\n") for part in parts if part.strip()]


class NotebookLog:
    """Appends cells with their outputs; a background thread rewrites the file atomically.

    Writing (and validating) a growing notebook after every cell cost tens of milliseconds per
    cell, more than the cell itself: the writer batches cells (the file is at most ~0.2 s
    behind) and `close` flushes and validates once.
    """

    def __init__(self, path: Path, *, unsafe: bool, display_name: str) -> None:
        self.path = path
        self._lock = threading.Lock()  # guards the cells
        self._write_lock = threading.Lock()  # one writer of the file at a time
        self._dirty = threading.Event()
        self._closed = False
        # Cells added / cells on disk: the background writer skips a write that `save` already
        # made, so it never rewrites the file while the session commits the directory.
        self._added = 0
        self._written: tuple[int, Path] | None = None
        self._writer = threading.Thread(target=self._write_loop, name="aar-notebook", daemon=True)
        self.nb = v4.new_notebook()
        self.nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": display_name,
            "language": "python",
        }
        self.nb.metadata["language_info"] = {"name": "python"}
        self.nb.metadata["aar"] = {"isolation": "none" if unsafe else "bwrap", "unsafe": unsafe}
        self._writer.start()

    def add(self, code: str, result: CellResult) -> None:
        """Record one cell (plain nbformat v4 dicts; validated when the notebook is saved)."""
        outputs: list[dict[str, object]] = []
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if text:
                outputs.append({"output_type": "stream", "name": name, "text": text})
        for item in result.display:
            out: dict[str, object] = {
                "output_type": item.kind,
                "data": item.data,
                "metadata": item.metadata,
            }
            if item.kind == "execute_result":
                out["execution_count"] = result.execution_count
            outputs.append(out)
        if result.error is not None:
            outputs.append(
                {
                    "output_type": "error",
                    "ename": result.error.ename,
                    "evalue": result.error.evalue,
                    "traceback": result.error.traceback,
                }
            )
        if result.message:
            text = f"[aar] {result.message}\n"
            outputs.append({"output_type": "stream", "name": "stderr", "text": text})
        cell = nbformat.from_dict(
            {
                "cell_type": "code",
                "id": uuid.uuid4().hex[:8],
                "execution_count": result.execution_count,
                "source": code,
                "outputs": outputs,
                "metadata": {
                    "aar": {
                        "status": result.status,
                        "duration_s": round(result.duration_s, 4),
                        "truncated": result.truncated,
                        "unsafe": result.unsafe,
                    }
                },
            }
        )
        with self._lock:
            self.nb.cells.append(cell)
            self._added += 1
        self._dirty.set()

    def _write_loop(self) -> None:
        while not self._closed:
            self._dirty.wait()
            time.sleep(_COALESCE_S)  # batch bursts of cells: serialising holds the GIL
            self._dirty.clear()
            if not self._closed:
                self._write()

    def _write(self) -> None:
        with self._write_lock:
            with self._lock:
                if self._written == (self._added, self.path) and self.path.exists():
                    return
                text = json.dumps(self.nb, indent=1, ensure_ascii=False) + "\n"
                path, added = self.path, self._added
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)  # atomic: a crash never leaves half a notebook
            self._written = (added, path)

    def save(self) -> None:
        """Validate and write now (synchronously)."""
        with self._lock:
            nbformat.validate(self.nb)
        self._write()

    def close(self) -> None:
        """Stop the writer and save the final, validated notebook."""
        self._closed = True
        self._dirty.set()
        self._writer.join(timeout=10)
        self.save()
