"""Time one evaluation round trip: export the public dir, fit a student on it, evaluate.

Target: <= 2 s median on the small tasks. "Cold" is everything a new session pays once
(evaluator set-up: splits + weak supervisor; export; first evaluate, which trains the
ceiling); "submit" is what each further experiment pays (fit a student on the exported
files + evaluate).

    .venv/bin/python tools/bench/bench_eval.py [--reps 5] [--task digits-ge5 ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMALL_TASKS = ["breast-cancer", "digits-ge5", "synthetic-gap-medium"]


def fit_from_public(directory: Path, task_name: str) -> np.ndarray:
    """A naive student trained only on what the public directory holds."""

    from aar.bench import get_task
    from aar.bench._train import Batch, fit_predict

    x_tr = np.load(directory / "transfer_inputs.npy")
    weak = np.load(directory / "transfer_weak_labels.npy")
    x_te = np.load(directory / "test_inputs.npy")
    x = np.concatenate([x_tr, x_te])
    batch = Batch(x=x, train_rows=np.arange(len(x_tr))[None], targets=weak[None], seeds=[0])
    rows = {"test": np.arange(len(x_tr), len(x))[None]}
    return fit_predict(batch, rows, get_task(task_name).student, device="cpu")["test"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--task", nargs="*", default=SMALL_TASKS)
    args = parser.parse_args()

    import torch

    from aar.bench import Evaluator, get_task
    from aar.bench._runner import load_data

    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    for name in args.task:
        load_data(get_task(name))  # build the pool once, as a session would have
        cold, submit = [], []
        for rep in range(args.reps):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                ev = Evaluator(name, 42 + rep, budget=10, device="cpu")
                pub = ev.export_public(Path(tmp) / "pub")
                probs = fit_from_public(pub, name)
                ev.evaluate(probs, method="naive", code_sha256="bench")
                t1 = time.perf_counter()
                probs = fit_from_public(pub, name)
                rec = ev.evaluate(probs, method="naive", code_sha256="bench")
                t2 = time.perf_counter()
            cold.append(t1 - t0)
            submit.append(t2 - t1)
        print(
            f"{name:24s} cold (setup+export+fit+evaluate+ceiling): median "
            f"{statistics.median(cold):.2f} s; submit (fit+evaluate): median "
            f"{statistics.median(submit):.2f} s  [target <= 2 s]  "
            f"(last test acc {rec.metrics['acc']}, PGR {rec.metrics['pgr_acc']})"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
