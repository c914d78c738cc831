"""Sandbox performance: cell round trip, cold start, warm-pool hand-out, isolation overhead.

The isolated policy is the one `aar sandbox exec` uses: the allow-listed Python (about 160
read-only binds) with every task's label sources masked. "First start in a new process" also
pays for computing that view from installed metadata (cached for later starts).

Run: `.venv/bin/python tools/bench/bench_sandbox.py [--cells 300] [--starts 5]`. Prints
measured numbers against the targets, and sandboxed/unsandboxed ratios measured in the same
run (so machine load affects both sides alike). Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aar.sandbox import KernelPool, KernelSandbox, SandboxPolicy, load_policy

TARGETS = {"p50_ms": 5.0, "p99_ms": 20.0, "cold_s": 1.5, "first_cold_s": 1.5, "pool_ms": 100.0}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def round_trips(
    policies: dict[str, SandboxPolicy], root: Path, cells: int
) -> dict[str, list[float]]:
    """Seconds per `1+1` cell (send to idle + reply) for each policy, cells interleaved
    between the kernels so machine load hits all of them alike; after a short warm-up."""
    sandboxes = {name: KernelSandbox(root / name, policy=p).start() for name, p in policies.items()}
    times: dict[str, list[float]] = {name: [] for name in sandboxes}
    try:
        for sandbox in sandboxes.values():
            for _ in range(20):
                sandbox.run_cell("1+1")
        for _ in range(cells):
            for name, sandbox in sandboxes.items():
                t0 = time.perf_counter()
                result = sandbox.run_cell("1+1")
                times[name].append(time.perf_counter() - t0)
                assert result.text == "2", result
    finally:
        for sandbox in sandboxes.values():
            sandbox.close()
    return times


def cold_starts(policies: dict[str, SandboxPolicy], root: Path, n: int) -> dict[str, list[float]]:
    """Seconds from `start()` until the kernel answers, fresh sandbox each time, interleaved."""
    times: dict[str, list[float]] = {name: [] for name in policies}
    for i in range(n):
        for name, policy in policies.items():
            sandbox = KernelSandbox(root / f"cold-{name}-{i}", policy=policy)
            t0 = time.perf_counter()
            sandbox.start()
            times[name].append(time.perf_counter() - t0)
            sandbox.close()
    return times


_FIRST_START = """
import sys, time
from pathlib import Path
from aar.bench import label_sources
from aar.sandbox import KernelSandbox, load_policy
policy = load_policy(use_settings=False).with_label_sources(label_sources())
t0 = time.perf_counter()
with KernelSandbox(Path(sys.argv[1]), policy=policy) as sandbox:
    print(time.perf_counter() - t0)
"""


def first_starts(root: Path, n: int) -> list[float]:
    """Seconds to a ready kernel for the first sandbox of a fresh process (view not cached)."""
    out = []
    for i in range(n):
        cmd = [sys.executable, "-c", _FIRST_START, str(root / f"first-{i}")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def pool_handouts(policy: SandboxPolicy, root: Path, n: int) -> tuple[list[float], list[float]]:
    """Seconds for `acquire()` from a full pool, and for acquire plus a first `1+1`."""
    acquire, first_cell = [], []
    with KernelPool(1, root=root / ".pool", policy=policy) as pool:
        for i in range(n):
            assert pool.wait_ready(60), pool.last_error
            t0 = time.perf_counter()
            sandbox = pool.acquire(root / f"pooled{i}")
            acquire.append(time.perf_counter() - t0)
            assert sandbox.run_cell("1+1").text == "2"
            first_cell.append(time.perf_counter() - t0)
            sandbox.close()
    return acquire, first_cell


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    from aar.bench import label_sources

    isolated = load_policy(use_settings=False).with_label_sources(label_sources())
    bare = isolated.model_copy(update={"isolation": "none"})
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="aar-bench-") as tmp:
        root = Path(tmp)
        policies = {"bwrap": isolated, "none": bare}
        rt = round_trips(policies, root / "rt", args.cells)
        cold = cold_starts(policies, root / "cold", args.starts)
        first = first_starts(root / "first", args.starts)
        pool, pool_first = pool_handouts(isolated, root, args.starts)
    ms = 1000.0
    got = {
        "p50_ms": _pct(rt["bwrap"], 0.5) * ms,
        "p99_ms": _pct(rt["bwrap"], 0.99) * ms,
        "cold_s": statistics.median(cold["bwrap"]),
        "first_cold_s": statistics.median(first),
        "pool_ms": statistics.median(pool) * ms,
    }
    print(
        f"cell round trip 1+1 ({args.cells} cells): p50 {got['p50_ms']:.2f} ms, "
        f"p99 {got['p99_ms']:.2f} ms (unsandboxed p50 {_pct(rt['none'], 0.5) * ms:.2f} ms, "
        f"p99 {_pct(rt['none'], 0.99) * ms:.2f} ms)"
    )
    print(
        f"cold kernel ready ({args.starts} starts): median {got['cold_s']:.3f} s, "
        f"max {max(cold['bwrap']):.3f} s "
        f"(unsandboxed median {statistics.median(cold['none']):.3f} s)"
    )
    print(
        f"first start in a new process ({args.starts}x, Python view computed): median "
        f"{got['first_cold_s']:.3f} s, max {max(first):.3f} s"
    )
    print(
        f"kernel from warm pool ({args.starts}x): acquire median {got['pool_ms']:.2f} ms, "
        f"max {max(pool) * ms:.2f} ms; acquire + first 1+1 median "
        f"{statistics.median(pool_first) * ms:.2f} ms, max {max(pool_first) * ms:.2f} ms"
    )
    print(
        "isolation overhead (sandboxed / unsandboxed, same run): "
        f"round trip p50 x{_pct(rt['bwrap'], 0.5) / _pct(rt['none'], 0.5):.2f}, "
        f"cold start x{statistics.median(cold['bwrap']) / statistics.median(cold['none']):.2f}"
    )
    failed = [k for k, target in TARGETS.items() if got[k] > target]
    for key, target in TARGETS.items():
        verdict = "ok" if key not in failed else "MISSED"
        print(f"  target {key} <= {target:g}: {verdict} ({got[key]:.3g})")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
