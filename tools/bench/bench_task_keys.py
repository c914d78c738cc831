"""The key-dependent properties the test suite checks, over K random task keys.

The test suite runs under one fixed task key (tests/conftest.py), so each keyed check has one
outcome. This measures, per check, the distribution over fresh keys: mean, min, max, and the
share of keys on which the test's own threshold would fail.

- naive PGR per cheap task, 5 seeds (tests/bench/test_tasks.py, fails at <= 0.05);
- threshold_walk gain per task on the real scorer (tests/scorer/test_scorer_attacks.py,
  fails above MAX_GAIN);
- the ladder teeth: threshold_walk gain on breast-cancer against the classic ladder and a
  ladder without the naive start (the tests fail when the gain is NOT above MAX_GAIN);
- the ladder-step edge on rt-sentiment: logconf minus naive test accuracy at the best of
  seeds 42-51, minus eta(n) (fails below 0; only with --ladder-edge, ~30 s CPU a key);
- the split-order AUC z on the tiny task (tests/bench/test_protocol.py, fails at >= 4).

    .venv/bin/python tools/bench/bench_task_keys.py [--keys 8] [--jobs 2] [--ladder-edge]

Each key runs in its own process (its own key file, so no cache outlives a key); keys are
drawn from `--seed`, so a run is reproducible. Prints per-key timings and the total: about
15 s CPU a key without --ladder-edge, but 90 s wall a key on 2 shared, loaded cores: the
default is 8 keys (about 6 minutes there), not 20.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHEAP = ["digits-ge5", "digits-10", "breast-cancer", "synthetic-gap-small"]
WALK_TASKS = ["digits-ge5", "breast-cancer", "digits-10", "synthetic-gap-small"]
SEEDS = [42, 43, 44, 45, 46]


def _pgr(out: dict[str, float]) -> None:
    from aar.bench import get_task, run_task

    for name in CHEAP:
        result = run_task(get_task(name), ["naive"], SEEDS, "cpu")
        out[f"naive_pgr/{name}"] = float(result.methods["naive"].pgr_of_mean_acc)


def _attacks(out: dict[str, float], walk_tasks: list[str]) -> None:
    from aar.scorer import Policy
    from aar.scorer.attacks import run_attack, scorer_oracles

    for task in walk_tasks:
        out[f"walk_gain/{task}"] = run_attack(task, "threshold_walk", scorer_oracles()).gain
    for name, policy in (
        ("classic", Policy.classic_ladder()),
        ("no_start", Policy(from_reference=False)),
    ):
        r = run_attack("breast-cancer", "threshold_walk", scorer_oracles(policy=policy))
        out[f"teeth_gain/{name}"] = r.gain


def _ladder_edge(out: dict[str, float]) -> None:
    from aar.scorer import Policy
    from aar.scorer.attacks import split_targets

    def edge(seed: int) -> float:
        t = split_targets("rt-sentiment", seed)["test"]
        return t.accuracy(t.honest["logconf"]) - t.accuracy(t.honest["naive"])

    n = len(split_targets("rt-sentiment", 42)["test"].truth)
    out["ladder_edge_minus_eta/rt-sentiment"] = max(
        map(edge, range(42, 52))
    ) - Policy.from_settings().eta(n)


def _auc_z(out: dict[str, float]) -> None:
    from sklearn.metrics import roc_auc_score

    sys.path.insert(0, str(ROOT))
    from aar.bench import setup_seed
    from aar.bench._protocol import PUBLIC_SPLITS
    from aar.bench._runner import load_data
    from tests.bench.conftest import TINY

    def z(labels: np.ndarray, scores: np.ndarray) -> float:
        n1 = int(labels.sum())
        n0 = len(labels) - n1
        return float(
            abs(roc_auc_score(labels, scores) - 0.5) / np.sqrt((n0 + n1 + 1) / (12 * n0 * n1))
        )

    data = load_data(TINY)
    setup = setup_seed(TINY, data, 42)
    zs = []
    for name in PUBLIC_SPLITS:
        labels = data.y[setup.public_rows(name)]
        zs += [z(labels, np.arange(len(labels))), z(labels, setup.public.ids[name])]
    out["split_order_auc_z/max"] = max(zs)


def one_key(args: argparse.Namespace) -> None:
    """In a child process whose AAR_BENCH__KEY_FILE is this key: print one JSON line."""
    out: dict[str, float] = {}
    times: dict[str, float] = {}
    parts = [("auc_z", _auc_z), ("pgr", _pgr), ("attacks", lambda o: _attacks(o, args.walk_tasks))]
    if args.ladder_edge:
        parts.append(("ladder_edge", _ladder_edge))
    for name, fn in parts:
        start = time.perf_counter()
        fn(out)
        times[name] = round(time.perf_counter() - start, 1)
    print(json.dumps({"values": out, "seconds": times}))


FAILS = {  # the test's threshold: True where a value fails it
    "naive_pgr": lambda v: v <= 0.05,
    "walk_gain": lambda v: v > _max_gain() + 1e-9,
    "teeth_gain": lambda v: v <= _max_gain(),
    "ladder_edge_minus_eta": lambda v: v < 0,
    "split_order_auc_z": lambda v: v >= 4,
}


def _max_gain() -> float:
    from aar.scorer.attacks import MAX_GAIN

    return MAX_GAIN


def _run_key(i: int, key: bytes, argv: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aar-bench-key-") as tmp:
        (Path(tmp) / "key").write_bytes(key)
        env = {
            **os.environ,
            "AAR_BENCH__KEY_FILE": str(Path(tmp) / "key"),
            "AAR_SCORER__DIR": str(Path(tmp) / "scorer"),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--one", *argv], env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"key {i} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["wall"] = round(time.perf_counter() - start, 1)
        print(f"key {i}: {row['wall']} s {row['seconds']}", flush=True)
        return row


def summarise(rows: list[dict[str, Any]]) -> None:
    names = sorted({k for r in rows for k in r["values"]})
    print(
        "\n| property | keys | mean | min | max | share failing the test |",
        "\n|---|---|---|---|---|---|",
        sep="",
    )
    for name in names:
        v = np.array([r["values"][name] for r in rows if name in r["values"]])
        fails = FAILS[name.split("/")[0]]
        share = float(np.mean([fails(x) for x in v]))
        print(
            f"| {name} | {len(v)} | {v.mean():.4f} | {v.min():.4f} | {v.max():.4f} | {share:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2, help="keys measured at once")
    parser.add_argument("--seed", type=int, default=0, help="draws the keys")
    parser.add_argument("--walk-tasks", nargs="+", default=WALK_TASKS)
    parser.add_argument(
        "--ladder-edge",
        action="store_true",
        help="also rt-sentiment's ladder-step edge (10 seeds: ~30 s CPU a key, off by default)",
    )
    parser.add_argument("--json", type=Path, help="also write every key's values here")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_key(args)
        return
    child = ["--walk-tasks", *args.walk_tasks] + (["--ladder-edge"] if args.ladder_edge else [])
    rng = np.random.default_rng(args.seed)
    keys = [rng.bytes(32) for _ in range(args.keys)]
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda ik: _run_key(ik[0], ik[1], child), enumerate(keys)))
    total = time.perf_counter() - start
    print(f"\n{args.keys} keys, {args.jobs} at once: {total:.0f} s; load average {os.getloadavg()}")
    summarise(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
