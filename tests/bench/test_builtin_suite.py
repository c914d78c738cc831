"""The real built-in suite, one seed: every task runs end to end and has a usable gap."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from aar.bench import Evaluator, Task, export_public, list_tasks, run_suite


def _builtin() -> list[Task]:
    return [t for t in list_tasks() if type(t).__module__.startswith("aar.bench.tasks")]


@pytest.mark.slow
def test_builtin_suite_one_seed() -> None:
    tasks = _builtin()
    assert len(tasks) >= 3, [t.name for t in tasks]
    result = run_suite(tasks, ["naive", "logconf"], [42], device="cpu")
    for name, r in result.tasks.items():
        assert r.ceiling.acc.mean > r.weak.acc.mean, name
        for m, mr in r.methods.items():
            assert math.isfinite(mr.pgr_acc.mean), (name, m)
            assert mr.acc.mean > 1 / r.n_classes, (name, m)
    assert set(result.mean_pgr_acc) == {"naive", "logconf"}


@pytest.mark.slow
def test_builtin_text_task_exports_texts_without_labels(tmp_path: Path) -> None:
    texty = [t for t in _builtin() if t.load().texts is not None]
    if not texty:
        pytest.skip("no built-in text task")
    task = texty[0]
    out = export_public(task, 42, tmp_path / "pub")
    assert (out / "test_texts.json").exists()
    ev = Evaluator(task, 42, budget=1, device="cpu")
    probs = np.load(out / "test_weak_labels.npy")
    rec = ev.evaluate(probs, method="weak-copy", code_sha256="x")
    assert rec.metrics["pgr_acc"] == pytest.approx(0.0, abs=0.011)
