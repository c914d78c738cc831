"""A session's baselines and `aar bench run` give identical numbers (one implementation).

The session's baseline script (`baseline_code`: naive then logconf, the script
`Session.run_baselines` runs) runs in a real isolating kernel with the public exports of
every pair mounted and every label source hidden. Its saved holdout predictions are scored by
a real `Evaluator`, and each record's metrics must equal, exactly, what `run_suite` (the code
of `aar bench run`) reports for the same task, method and seed: accuracy, AUROC, PGR, and the
weak and ceiling numbers. Before the shared library, digits-ge5 seed 42's holdout accuracy
was 0.781 in the session and 0.758 on the bench.

Both start a kernel, so both are marked slow: two tasks (binary and 10-class) x 2 seeds
(measured 33 s on 2 busy cores), and every built-in task x 5 seeds, 70 records (measured
120 s, load average ~6). The fast, kernel-free check of the same property is
tests/bench/test_methods.py::test_the_bench_trains_exactly_what_the_kernel_trains_from_the_export.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from aar.agent._research import BASELINE_METHODS, baseline_code
from aar.bench import (
    Evaluator,
    SuiteResult,
    export_public_many,
    get_task,
    label_sources,
    list_tasks,
    run_suite,
)
from aar.sandbox import KernelSandbox, load_policy, split_cells

SPLIT = "holdout"  # exact on both sides (test feedback is rounded for sessions)


def _builtin() -> list[str]:
    return sorted(t.name for t in list_tasks() if type(t).__module__.startswith("aar.bench.tasks"))


def _session_baselines(
    pairs: list[tuple[str, int]], root: Path
) -> dict[tuple[str, str, int], np.ndarray]:
    """(method, task, seed) -> the holdout probabilities the session's baseline script saved."""
    task_dir = export_public_many(pairs, root / "public")
    policy = load_policy(use_settings=False).with_label_sources(label_sources())
    saved = {}
    with KernelSandbox(root / "runs" / "s" / "exp", task_dir=task_dir, policy=policy) as sandbox:
        for cell in split_cells(baseline_code(pairs)):
            result = sandbox.run_cell(cell)
            assert result.ok, (cell[:200], result)
        for method in BASELINE_METHODS:
            for task, seed in pairs:
                data = sandbox.read_file(f"predictions/{method}/{task}/seed-{seed}.{SPLIT}.npy")
                saved[(method, task, seed)] = np.load(io.BytesIO(data), allow_pickle=False)
    return saved


def _check_identical(tasks: list[str], seeds: list[int], root: Path) -> int:
    pairs = [(t, s) for t in tasks for s in seeds]
    kernel = _session_baselines(pairs, root)
    bench: SuiteResult = run_suite(
        [get_task(t) for t in tasks], list(BASELINE_METHODS), seeds, device="cpu"
    )
    compared = 0
    for task, seed in pairs:
        result = bench.tasks[task]
        i = result.seeds.index(seed)
        evaluator = Evaluator(task, seed, budget=len(BASELINE_METHODS), device="cpu")
        for method in BASELINE_METHODS:
            record = evaluator.evaluate(
                kernel[(method, task, seed)], method=method, code_sha256="s", split=SPLIT
            )
            seed_record = result.methods[method].seeds[i]
            got = {k: record.metrics[k] for k in ("acc", "auroc", "pgr_acc", "pgr_auroc")}
            got |= {k: record.metrics[k] for k in ("weak_acc", "ceiling_acc")}
            want = {
                "acc": seed_record.holdout.acc,
                "auroc": seed_record.holdout.auroc,
                "pgr_acc": seed_record.pgr_acc,
                "pgr_auroc": seed_record.pgr_auroc,
                "weak_acc": result.weak.seeds[i].holdout.acc,
                "ceiling_acc": result.ceiling.seeds[i].holdout.acc,
            }
            assert got == want, (task, seed, method)  # exactly equal, not approximately
            compared += 1
    return compared


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_session_baselines_equal_the_bench_on_two_tasks(tmp_path: Path) -> None:
    assert _check_identical(["digits-ge5", "digits-10"], [42, 43], tmp_path) == 8


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_session_baselines_equal_the_bench_on_every_builtin_task_and_seed(
    tmp_path: Path,
) -> None:
    tasks = _builtin()
    assert len(tasks) >= 7, tasks
    seeds = [42, 43, 44, 45, 46]
    assert _check_identical(tasks, seeds, tmp_path) == len(tasks) * len(seeds) * 2
