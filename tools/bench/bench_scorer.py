"""Load-test the scorer service on loopback (issue 21: the scorer answers >= 100 evaluations/s).

N valid test submissions (the harness's naive predictions with a few random rows flipped, so
each is new) from 1, 4 and 16 client threads against one `ScorerService` (in its own process,
as in a team) on a throw-away ledger, with the team's budgets on (the per-account cap and
the team total are checked on every charge), with fsync as in production and with fsync off.
The same N through the in-process `Scorer` on a fresh ledger is the baseline, measured in
the same run. Each cell starts from an empty ledger; `--ledger-sizes` measures the cost per
submission against a pool that already holds entries (indexed per (task, seed): 8.0 / 26.4 /
48.2 ms at 0 / 500 / 2000 entries before, 3.7 / 4.1 / 1.5 ms after, on a loaded 2-core box).

    .venv/bin/python tools/bench/bench_scorer.py [--n 400] [--threads 1 4 16] [--task T]
        [--profile]   # cProfile of the in-process baseline (where a submission's time goes)
        [--ledger-sizes 0 500 2000 [--per-size 100]]   # only the cost per submission against a
                      # pool that already holds that many entries (in-process, fsync off)
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from aar.bench import Evaluator
from aar.scorer import RemoteScorer, Scorer, ScoreRequest, ScorerService, TeamBudget

TOKEN = "b" * 64
TARGET = 100.0


def requests(task: str, seed: int, n: int, naive: np.ndarray) -> list[ScoreRequest]:
    """N distinct submissions: the naive predictions with 1-5 random rows flipped."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        probs = naive.copy()
        rows = rng.choice(len(probs), size=int(rng.integers(1, 6)), replace=False)
        probs[rows] = probs[rows, ::-1]
        out.append(
            ScoreRequest(
                task=task,
                seed=seed,
                method=f"bench-{i}",
                code_sha256="bench",
                account=f"bench:{i % 16}",
                budget=10**6,
                request_id=f"req-{i}",
                probs=probs.tolist(),
            )
        )
    return out


def run_cell(submit: object, reqs: list[ScoreRequest], threads: int) -> dict[str, float]:
    """Submit all requests from `threads` threads; throughput and latency percentiles."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(request: ScoreRequest) -> None:
        t0 = time.perf_counter()
        submit(request)  # type: ignore[operator]
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, reqs))
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "evals_per_s": len(reqs) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
    }


def service_cell(
    reqs: list[ScoreRequest], threads: int, fsync: bool, task: str, seed: int
) -> dict[str, float]:
    """One service in its own process (as in production: the clients' threads do not share
    its interpreter lock), on a fresh ledger, its evaluator built before the clock starts."""
    with tempfile.TemporaryDirectory(prefix="aar-bench-scorer-") as ledger:
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", ledger, "--task", task, "--seed", str(seed)]
            + ([] if fsync else ["--no-fsync"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdin is not None
            url = child.stdout.readline().strip()
            local = threading.local()

            def submit(request: ScoreRequest) -> None:
                if not hasattr(local, "client"):  # one client (connection pool) per thread
                    local.client = RemoteScorer(url, TOKEN)
                local.client.score(request)

            return run_cell(submit, reqs, threads)
        finally:
            if child.stdin is not None:
                child.stdin.close()  # the child stops at end of input
            child.wait(timeout=30)


def child(ledger: str, fsync: bool, task: str, seed: int) -> None:
    """The service process: print its URL, serve until stdin closes."""
    budgets = TeamBudget(total_evals=10**6, per_account_evals=10**6, team="bench")
    scorer = Scorer(ledger, fsync=fsync)
    with ScorerService(scorer, TOKEN, budgets) as service:
        service.app.state.backend.warm(task, seed)  # the ceiling trains before the clock
        print(service.url, flush=True)
        sys.stdin.read()


def local_cell(
    reqs: list[ScoreRequest], fsync: bool, cache: dict[tuple[str, int], Evaluator], profile: bool
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="aar-bench-scorer-") as ledger:
        scorer = Scorer(ledger, evaluators=cache, fsync=fsync)
        if not profile:
            return run_cell(scorer.score, reqs, 1)
        prof = cProfile.Profile()  # in this thread: a pool's threads are not profiled
        t0 = time.perf_counter()
        prof.enable()
        for request in reqs:
            scorer.score(request)
        prof.disable()
        result = {"evals_per_s": len(reqs) / (time.perf_counter() - t0), "p50_ms": 0, "p95_ms": 0}
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return result


def ledger_size_cells(
    ev: Evaluator,
    seed: int,
    sizes: list[int],
    per_size: int,
    cache: dict[tuple[str, int], Evaluator],
) -> None:
    """Cost per submission as the pool grows: one ledger (fsync off, in-process) filled
    through the scorer itself to each size in turn, then `per_size` new submissions timed."""
    naive = ev.reference_probs("test")
    total = max(sizes) + per_size * len(sizes)
    reqs = requests(ev.task.name, seed, total, naive)
    print(f"{'entries':>7} {'evals/s':>8} {'ms/eval':>8} {'p95 ms':>7}   (in-process, fsync off)")
    with tempfile.TemporaryDirectory(prefix="aar-bench-scorer-") as ledger:
        scorer = Scorer(ledger, evaluators=cache, fsync=False)
        done = 0
        for size in sorted(sizes):
            while len(scorer.store.entries(ev.task.name)) < size:
                scorer.score(reqs[done])
                done += 1
            cell = run_cell(scorer.score, reqs[done : done + per_size], 1)
            done += per_size
            print(
                f"{size:>7} {cell['evals_per_s']:>8.1f} {1000 / cell['evals_per_s']:>8.2f} "
                f"{cell['p95_ms']:>7.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--task", default="breast-cancer")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--ledger-sizes", type=int, nargs="+")
    parser.add_argument("--per-size", type=int, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-fsync", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, not args.no_fsync, args.task, args.seed)

    cache: dict[tuple[str, int], Evaluator] = {}
    t0 = time.perf_counter()
    ev = Scorer(Path(tempfile.mkdtemp()), evaluators=cache).evaluator(args.task, args.seed)
    naive = ev.reference_probs("test")
    reqs = requests(ev.task.name, args.seed, args.n, naive)
    print(
        f"task {ev.task.name} seed {args.seed}: {len(naive)} test rows, N={args.n}, "
        f"evaluator ready in {time.perf_counter() - t0:.1f} s"
    )
    if args.ledger_sizes:
        return ledger_size_cells(ev, args.seed, args.ledger_sizes, args.per_size, cache)
    print(
        f"{'fsync':>5} {'where':>12} {'threads':>7} {'evals/s':>8} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'vs local':>8}"
    )
    for fsync in (True, False):
        base = local_cell(reqs, fsync, cache, args.profile and not fsync)
        print(
            f"{fsync!s:>5} {'in-process':>12} {1:>7} {base['evals_per_s']:>8.1f} "
            f"{base['p50_ms']:>7.1f} {base['p95_ms']:>7.1f} {1.0:>8.2f}"
        )
        for threads in args.threads:
            cell = service_cell(reqs, threads, fsync, ev.task.name, args.seed)
            ratio = cell["evals_per_s"] / base["evals_per_s"]
            mark = "" if cell["evals_per_s"] >= TARGET else f"  (< {TARGET:g}/s target)"
            print(
                f"{fsync!s:>5} {'service':>12} {threads:>7} {cell['evals_per_s']:>8.1f} "
                f"{cell['p50_ms']:>7.1f} {cell['p95_ms']:>7.1f} {ratio:>8.2f}{mark}"
            )


if __name__ == "__main__":
    main()
