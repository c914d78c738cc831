"""The experiment notebook's background writer never rewrites what `save` already wrote.

The session commits the experiment directory (`git add -A`) right after `save`; a background
rewrite at that moment made git stat a temporary file that had just been renamed away, and the
commit failed (seen in CI: `unable to stat '.notebook.ipynb.tmp'`)."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat

from aar.sandbox import CellResult
from aar.sandbox._notebook import _COALESCE_S, NotebookLog


def test_save_leaves_the_background_writer_nothing_to_write(tmp_path: Path) -> None:
    path = tmp_path / "notebook.ipynb"
    log = NotebookLog(path, unsafe=False, display_name="test")
    try:
        log.add("print(1)", CellResult(status="ok", stdout="1\n"))
        log.save()
        written = path.stat()
        time.sleep(3 * _COALESCE_S)  # the writer woke for the cell, and found it on disk
        again = path.stat()
        assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
        assert not list(tmp_path.glob(".*.tmp"))
        log.add("print(2)", CellResult(status="ok", stdout="2\n"))
        time.sleep(3 * _COALESCE_S)  # a new cell is still written in the background
        assert len(nbformat.read(path, as_version=4).cells) == 2
    finally:
        log.close()
    assert len(nbformat.read(path, as_version=4).cells) == 2
