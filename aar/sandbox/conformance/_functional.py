"""Behaviour every backend must have, isolating or not: cells, state, files, restarts,
timeouts, the notebook and honest `unsafe` marks."""

from __future__ import annotations

import json
from collections.abc import Callable

from aar.sandbox._errors import SandboxUsageError
from aar.sandbox.conformance._backend import Backend, battery_policy
from aar.sandbox.conformance._checks import expect
from aar.sandbox.conformance._host import HostPlaces, fail

FunctionalCase = Callable[[Backend, HostPlaces], None]


def _cells_and_state(backend: Backend, places: HostPlaces) -> None:
    with backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox:
        first = sandbox.run_cell(
            "x = 20\nprint('out'); import sys; print('err', file=sys.stderr)\nx"
        )
        expect(first.ok and first.stdout == "out\n" and first.stderr == "err\n", first)
        expect(first.text == "20" and first.unsafe == (not backend.isolating), first)
        expect(sandbox.run_cell("x + 1").text == "21", "state was not kept between cells")
        error = sandbox.run_cell("1 / 0")
        raised = error.error
        expect(error.status == "error" and raised is not None, error)
        expect(raised is not None and raised.ename == "ZeroDivisionError", raised)
        expect(sandbox.run_cell("x").text == "20", "an error lost the kernel's state")


def _files(backend: Backend, places: HostPlaces) -> None:
    with backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox:
        sandbox.write_file("in/data.txt", "hello")
        cell = sandbox.run_cell(
            "data = open('in/data.txt').read()\nopen('out.bin', 'wb').write(data.encode() * 2)"
        )
        expect(cell.ok, cell)
        expect(sandbox.read_file("out.bin") == b"hellohello", "kernel and host disagree on files")
        expect(sandbox.list_files() == {"in/data.txt": 5, "out.bin": 10}, sandbox.list_files())
        for bad in ("missing.txt", "../escape", "/etc/passwd", ""):
            try:
                sandbox.read_file(bad)
            except SandboxUsageError:
                continue
            fail(f"read_file({bad!r}) did not refuse")
        try:
            sandbox.read_file("out.bin", max_bytes=4)
        except SandboxUsageError:
            pass
        else:
            fail("read_file ignored max_bytes")


def _task_files(backend: Backend, places: HostPlaces) -> None:
    with backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox:
        cell = sandbox.run_cell(
            "import aar_kernel, numpy as np\n"
            "t = aar_kernel.load_task()\n"
            "p = aar_kernel.save_predictions(np.full(20, 0.5), split='test', name='half')\n"
            "print(t.manifest['task'], t.test_inputs.shape, sorted(t)[:2])"
        )
        expect(cell.ok and "fake (20, 4)" in cell.stdout, cell)
        expect("predictions/half.test.npy" in sandbox.list_files(), sandbox.list_files())
        if backend.isolating:
            denied = sandbox.run_cell("open('/task/new.txt', 'w')")
            expect(denied.status == "error", f"the task directory is writable: {denied}")


def _restart_and_timeout(backend: Backend, places: HostPlaces) -> None:
    with backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox:
        sandbox.run_cell("x = 1\nopen('kept.txt', 'w').write('kept')")
        sandbox.restart()
        gone = sandbox.run_cell("x")
        name_error = gone.error is not None and gone.error.ename == "NameError"
        expect(gone.status == "error" and name_error, gone)
        expect(sandbox.read_file("kept.txt") == b"kept", "restart lost the files")
        loop = sandbox.run_cell("while True:\n    pass", timeout=1.0)
        expect(loop.status == "timeout", loop)
        expect(sandbox.run_cell("40 + 2").text == "42", "no answer after a timeout")


def _notebook(backend: Backend, places: HostPlaces) -> None:
    with backend.open(places.run_dir, places.task_dir, battery_policy()) as sandbox:
        sandbox.run_cell("print('logged')")
        sandbox.run_cell("raise ValueError('boom')")
        path = sandbox.notebook_path
    notebook = json.loads(path.read_text())
    sources = [cell["source"] for cell in notebook["cells"]]
    expect(sources == ["print('logged')", "raise ValueError('boom')"], sources)
    meta = notebook["metadata"]["aar"]
    expect(meta["unsafe"] == (not backend.isolating), f"notebook unsafe mark: {meta}")


FUNCTIONAL_CASES: dict[str, FunctionalCase] = {
    "cells-and-state": _cells_and_state,
    "files-between-host-and-scratch": _files,
    "task-files-and-predictions": _task_files,
    "restart-and-timeout": _restart_and_timeout,
    "notebook-and-unsafe-mark": _notebook,
}
