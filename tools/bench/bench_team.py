"""Measure a research team (issue 21, "Performance"): throughput 1 -> 2 workers, the
scheduling and scoring overheads, and loopback load tests of the scorer service and the Chroma
server that back the scale model in tools/bench/TEAM_SCALE.md. All in one run, offline.

1. Throughput: a scripted team of 1 researcher on 1 Dask worker, then 2 on 2 (the same
   per-researcher session), each as `start_team` + `drive_team` in a child process whose whole
   process tree is reaped, so `wait4` gives the tree's CPU seconds. Hypotheses finished per
   minute, the ratio, and where the CPU went (sampled per process role) say what limits it.
   Each session's events.jsonl gives the per-researcher demand (evaluations, memory queries
   and adds, model requests) the scale model multiplies.
2. Overhead: submit+result round trip of a trivial function on the lead's LocalCluster
   configuration (median over --dask-n), and bulk `client.map`.
3. Load: (a) the scorer service (own process, production fsync, fresh ledger per level, the
   pair warmed before the clock) under 1/4/16/64 closed-loop client threads; (b) a Chroma
   server (`aar.memory.chroma_server`) under 1/4/16/64 clients in up to 4 processes, each
   operation what a session does: `open_store` + search approved + search pending (one
   `search_memory` tool call), or `open_store` + `add_many` of 2 findings (a round's end).

Everything runs in a temporary directory (runs, memory, task key, scorer ledger, review key,
the memory's server index); nothing touches the installation.

    .venv/bin/python tools/bench/bench_team.py [--levels 1 4 16 64] [--seconds 8]
        [--hypotheses 2] [--seeds 2] [--skip-team] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

TOKEN = "c" * 64
TASK = "digits-ge5"
DASK_TARGET_MS = 50.0
SCORER_TARGET = 100.0
HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]


# -- environment ---------------------------------------------------------------------------
def isolate(root: Path) -> None:
    """Point every installation path at `root` (inherited by every child process). The
    memory's cache dir gets links to the real embedding artefacts, so nothing is re-derived
    but the per-server search indexes land in `root`."""
    from aar.config import get_settings

    real_cache = Path(get_settings().memory.cache_dir)
    cache = root / "memory-cache"
    cache.mkdir(parents=True, exist_ok=True)
    if real_cache.is_dir():
        for item in real_cache.iterdir():
            if item.is_file() and not item.name.endswith(".lock"):
                (cache / item.name).symlink_to(item)
    os.environ.pop("AAR_MEMORY_URL", None)
    os.environ.update(
        AAR_RUNS_DIR=str(root / "runs"),
        AAR_MEMORY_PATH=str(root / "memory"),
        AAR_MEMORY__CACHE_DIR=str(cache),
        AAR_BENCH__KEY_FILE=str(root / "task.key"),
        AAR_SCORER__DIR=str(root / "scorer"),
        AAR_REVIEW__KEY_FILE=str(root / "review.key"),
    )
    get_settings.cache_clear()


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`; nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


# -- part 1: throughput --------------------------------------------------------------------
def team_child(n: int, seeds: int, hypotheses: int) -> None:
    """In its own process: one scripted team, start to report; print its timings."""
    import resource

    from aar.session import SessionConfig
    from aar.team import TeamConfig, drive_team, start_team

    runs = Path(os.environ["AAR_RUNS_DIR"])
    session = SessionConfig(tasks=[TASK], seeds=list(range(42, 42 + seeds)), hypotheses=hypotheses)
    t0 = time.perf_counter()
    team = start_team(runs, TeamConfig(researchers=n, session=session))
    t1 = time.perf_counter()
    drive_team(team, runs)
    t2 = time.perf_counter()
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "team": team.id,
                "start_s": t1 - t0,
                "drive_s": t2 - t1,
                "lead_cpu_s": own.ru_utime + own.ru_stime,
            }
        ),
        flush=True,
    )


def role(proc: psutil.Process, lead: int) -> str:
    """Which part of the team a process is (by its command line)."""
    if proc.pid == lead:
        return "lead (scorer service, scheduler)"
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    if "bwrap" in cmd or "aar_recipes" in cmd or "kernel" in cmd:
        return "sandbox kernels"
    if " resume " in f" {cmd} ":
        return "researcher sessions (aar resume)"
    if "chroma" in cmd:
        return "chroma server"
    if "multiprocessing" in cmd or "distributed" in cmd:
        return "dask nanny/worker"
    return "other"


def sample_tree(pid: int, stop: threading.Event, seen: dict[int, tuple[str, float]]) -> None:
    """Every 0.5 s: the CPU seconds so far of each process under `pid`, by role (a process
    that lives under 0.5 s is missed here; the reaped total from wait4 still counts it)."""
    while not stop.is_set():
        try:
            top = psutil.Process(pid)
            procs = [top, *top.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                t = p.cpu_times()
                seen[p.pid] = (seen.get(p.pid, (None,))[0] or role(p, pid), t.user + t.system)
            except psutil.Error:
                continue
        stop.wait(0.5)


def run_team(n: int, args: argparse.Namespace, base: Path, rep: int) -> dict[str, Any]:
    """One team in a child process with its own runs directory; wall, CPU and demand."""
    root = base / f"team-{n}-{rep}"
    env = dict(os.environ) | {
        "AAR_RUNS_DIR": str(root / "runs"),
        "AAR_MEMORY_PATH": str(root / "memory"),
    }
    cmd = [sys.executable, str(HERE), "--team-child", str(n)]
    cmd += ["--seeds", str(args.seeds), "--hypotheses", str(args.hypotheses)]
    load0, cpu0, t0 = loadavg(), psutil.cpu_times(), time.perf_counter()
    log = (base / f"team-{n}-{rep}.log").open("w")
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    seen: dict[int, tuple[str, float]] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_tree, args=(child.pid, stop, seen), daemon=True)
    sampler.start()
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"team of {n} failed ({child.returncode}); see {log.name}")
    cpu1 = psutil.cpu_times()
    busy = sum(getattr(cpu1, f) - getattr(cpu0, f) for f in ("user", "system", "nice"))
    by_role: dict[str, float] = {}
    for r, s in seen.values():
        by_role[r] = by_role.get(r, 0.0) + s
    result = json.loads(out.strip().splitlines()[-1])
    return result | {
        "n": n,
        "wall_s": wall,
        "tree_cpu_s": usage.ru_utime + usage.ru_stime,
        "machine_busy_cpu_s": busy,
        "cores": psutil.cpu_count(),
        "load_start": load0,
        "load_end": loadavg(),
        "cpu_by_role": by_role,
        "team_cpu_s": max(sum(by_role.values()), usage.ru_utime + usage.ru_stime),
        "sessions": team_sessions(root / "runs", result["team"]),
    }


def team_sessions(runs: Path, team_id: str) -> list[dict[str, Any]]:
    """Each researcher's demand, read from its session's events.jsonl and the team's log."""
    team_events = [json.loads(x) for x in (runs / "teams" / team_id / "events.jsonl").open()]
    record = json.loads((runs / "teams" / team_id / "team.json").read_text())
    out = []
    for r in record["researchers"]:
        span = [
            e["at"] for e in team_events[1:] if e.get("researcher") == r["index"]
        ]  # assigned .. ended: the researcher's process on its worker
        demand = session_demand(runs / r["session_id"] / "events.jsonl")
        demand["process_s"] = seconds_between(span[0], span[-1])
        out.append(demand)
    return out


def seconds_between(a: str, b: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def session_demand(path: Path) -> dict[str, Any]:
    """What one session asked of the shared services, counted from its event log."""
    events = [json.loads(line) for line in path.open()][1:]
    kinds = Counter(e["kind"] for e in events)
    tools = Counter(e["data"]["name"] for e in events if e["kind"] == "tool")
    requests = [e["data"] for e in events if e["kind"] == "model_request"]
    at = {e["kind"]: e["at"] for e in events}  # the last of each kind
    first = next(e["at"] for e in events if e["kind"] == "round_started")
    plan = next(e["data"]["plan"] for e in events if e["kind"] == "round_started")
    return {
        "hypotheses": kinds["hypothesis"],
        "evaluations_test": kinds["evaluation"],
        "evaluations_holdout": kinds["holdout"],
        "memory_queries": tools["search_memory"],
        "findings_added": kinds["finding"],
        "memory_adds": sum(
            "stored in the memory" in e["data"].get("message", "")
            for e in events
            if e["kind"] == "note"
        ),
        "model_requests": len(requests),
        "input_tokens": sum(r.get("input_tokens") or 0 for r in requests),
        "output_tokens": sum(r.get("output_tokens") or 0 for r in requests),
        "models": sorted({r.get("model") for r in requests}),
        "kernel_cpu_s": sum(e["data"].get("cpu_s") or 0 for e in events if e["kind"] == "cell"),
        "round_s": seconds_between(first, at["round_ended"]),
        "plan": plan,
    }


def show_team(cell: dict[str, Any]) -> None:
    hyps, wall = cell["hypotheses"], cell["wall_s"]
    print(
        f"  wall {wall:.1f} s (start {cell['start_s']:.1f}, drive {cell['drive_s']:.1f}), "
        f"{hyps} hypotheses -> {cell['hyp_per_min']:.2f}/min end to end "
        f"({cell['hyp_per_min_drive']:.2f}/min in drive_team)"
    )
    team, busy = cell["team_cpu_s"], cell["machine_busy_cpu_s"]
    print(
        f"  CPU: team {team:.0f} s = {team / wall:.2f} cores (wait4 of the tree "
        f"{cell['tree_cpu_s']:.0f} s), {team / hyps:.1f} CPU s per hypothesis; machine "
        f"busy {busy / wall:.2f} of {cell['cores']} cores, of which other processes "
        f"{max(busy - team, 0) / wall:.2f}; load {cell['load_start']} -> {cell['load_end']}"
    )
    for r, s in sorted(cell["cpu_by_role"].items(), key=lambda kv: -kv[1]):
        print(f"    {r:<36} {s:7.1f} CPU s (sampled)")


def throughput(args: argparse.Namespace, base: Path) -> list[dict[str, Any]]:
    """1 then 2 researchers, `--repeat` times (the order alternating, so a drift in the
    machine's other load does not always favour the same size); the pooled ratio."""
    cells = []
    for rep in range(args.repeat):
        for n in (1, 2) if rep % 2 == 0 else (2, 1):
            print(f"[team] {n} researcher(s) on {n} worker(s), run {rep + 1} (load {loadavg()})")
            cell = run_team(n, args, base, rep)
            cell["hypotheses"] = hyps = sum(s["hypotheses"] for s in cell["sessions"])
            cell["hyp_per_min"] = hyps / (cell["wall_s"] / 60)
            cell["hyp_per_min_drive"] = hyps / (cell["drive_s"] / 60)
            show_team(cell)
            cells.append(cell)
    rates = {}
    for n in (1, 2):
        mine = [c for c in cells if c["n"] == n]
        rates[n] = sum(c["hypotheses"] for c in mine) / (sum(c["wall_s"] for c in mine) / 60)
    print(
        f"  pooled: 1 worker {rates[1]:.2f}, 2 workers {rates[2]:.2f} hypotheses/min; "
        f"ratio {rates[2] / rates[1]:.2f}x"
    )
    return cells


# -- part 2: scheduling overhead -----------------------------------------------------------
def _echo(x: int) -> int:
    return x


def dask_overhead(workers: int, n: int) -> dict[str, float]:
    """The lead's cluster configuration (`aar.team.team_client`): cluster start, one task's
    submit + result round trip (each waited, as the lead hands out one researcher at a time),
    and `client.map` of `n` tasks (per task)."""
    from aar.team import team_client

    t0 = time.perf_counter()
    with team_client(None, workers) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter() - t0
        client.submit(_echo, -1, pure=False).result()  # the function reaches the workers
        trips = []
        for i in range(n):
            t = time.perf_counter()
            client.submit(_echo, i, pure=False).result()
            trips.append(time.perf_counter() - t)
        t = time.perf_counter()
        client.gather(client.map(_echo, range(n), pure=False))
        bulk = time.perf_counter() - t
    return {
        "cluster_start_s": start,
        "roundtrip_p50_ms": 1000 * statistics.median(trips),
        "roundtrip_p95_ms": 1000 * pct(trips, 0.95),
        "map_per_task_ms": 1000 * bulk / n,
    }


# -- part 3a: the scorer under load --------------------------------------------------------
def scorer_child(ledger: str, side: str) -> None:
    """The service process (as the lead runs it): warm the pair (the ceiling and naive
    students train here, what a team's first request waits for), print its URL, serve until
    stdin closes."""
    import numpy as np

    from aar.scorer import Scorer, ScorerService, TeamBudget

    budgets = TeamBudget(total_evals=10**6, per_account_evals=10**6, team="bench")
    t0 = time.perf_counter()
    scorer = Scorer(ledger)
    with ScorerService(scorer, TOKEN, budgets) as service:
        service.app.state.backend.warm(TASK, 42)
        warm = time.perf_counter() - t0
        np.save(Path(side) / "naive.npy", scorer.evaluator(TASK, 42).reference_probs("test"))
        print(json.dumps({"url": service.url, "warm_s": warm}), flush=True)
        sys.stdin.read()


def closed_loop(op: Any, threads: int, seconds: float, cap: int) -> dict[str, Any]:
    """`threads` clients each calling op(thread, i) back to back until `seconds` pass or `cap`
    calls start in all; throughput, latency percentiles, errors."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    issued = iter(range(cap))
    deadline = time.perf_counter() + seconds

    def client(k: int) -> None:
        for i in issued:
            if time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            try:
                op(k, i)
            except Exception as exc:  # counted and shown, the load goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    pool = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "clients": threads,
        "ops": len(lat),
        "per_s": len(lat) / wall,
        "p50_ms": 1000 * pct(lat, 0.5),
        "p95_ms": 1000 * pct(lat, 0.95),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def scorer_level(threads: int, seconds: float, cap: int, base: Path) -> dict[str, Any]:
    """One fresh service (fresh ledger) under `threads` closed-loop clients, each its own
    RemoteScorer (connection pool), submitting naive predictions with 1-5 rows flipped."""
    import numpy as np

    from aar.scorer import LedgerStore, RemoteScorer, ScoreRequest

    side = Path(tempfile.mkdtemp(prefix=f"scorer-{threads}-", dir=base))
    ledger = side / "ledger"
    child = subprocess.Popen(
        [sys.executable, str(HERE), "--scorer-child", str(ledger), str(side)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        ready = json.loads(child.stdout.readline())
        naive = np.load(side / "naive.npy")
        clients = [RemoteScorer(ready["url"], TOKEN) for _ in range(threads)]

        def submit(k: int, i: int) -> None:
            rng = np.random.default_rng(i)
            probs = naive.copy()
            rows = rng.choice(len(probs), size=int(rng.integers(1, 6)), replace=False)
            probs[rows] = probs[rows, ::-1]
            clients[k].score(
                ScoreRequest(
                    task=TASK,
                    seed=42,
                    method=f"bench-{i}",
                    code_sha256="bench",
                    account=f"bench:{k}",
                    budget=10**6,
                    request_id=f"req-{i}",
                    probs=probs.tolist(),
                )
            )

        server = psutil.Process(child.pid)
        cpu0 = cpu_s(server)
        cell = closed_loop(submit, threads, seconds, cap)
        cell["server_cpu_ms_per_op"] = 1000 * (cpu_s(server) - cpu0) / max(cell["ops"], 1)
        for c in clients:
            c.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=60)
    cell["warm_s"] = ready["warm_s"]
    cell["ledger_entries"] = len(LedgerStore(ledger).entries(TASK))
    cell["test_rows"] = len(naive)
    return cell


# -- part 3b: the Chroma server under load -------------------------------------------------
QUERIES = [
    "weak-to-strong training method compared with naive on the same seeds",
    "auxiliary confidence loss recovers the gap on digits",
    "label propagation over the student's embedding geometry",
    "hardened weak labels versus soft labels",
    "temperature scaling of the weak supervisor",
    "filtering low-confidence weak labels",
]
METHODS = ["logconf", "naive", "confidence_filter", "temperature", "control_hard_labels"]


def synthetic_finding(fid: str, rng: random.Random) -> Any:
    from aar.memory import Finding, Metrics

    method = rng.choice(METHODS)
    mean = round(rng.uniform(-0.2, 0.8), 3)
    return Finding(
        id=fid,
        session_id=f"s-bench-{rng.randrange(64):02d}",
        summary=f"{method} vs naive on {TASK}: PGR {mean} ({rng.choice(QUERIES)})",
        hypothesis=f"{method} recovers more of the gap than naive ({fid})",
        method=method,
        tasks=[TASK],
        verdict=rng.choice(["supported", "refuted", "inconclusive"]),
        metrics=Metrics(pgr_acc_mean=mean, pgr_acc_se=round(rng.uniform(0.01, 0.2), 3)),
        tags=[f"family:{method}"],
    )


def memory_ops(tag: str) -> tuple[Any, Any]:
    """What a session does: `search_memory` (open the store, search approved, then pending)
    and the round's end (open the store, `add_many` its findings, 2 here)."""
    from aar.config import get_settings
    from aar.memory import FindingFilter, open_store

    def query(k: int, i: int) -> float:
        t = time.perf_counter()
        store = open_store(get_settings())
        opened = time.perf_counter() - t
        text = QUERIES[(k + i) % len(QUERIES)]
        for status in ("approved", "pending"):
            store.search(text, FindingFilter(task=TASK, status=status), k=8)
        return opened

    def add(k: int, i: int) -> float:
        rng = random.Random(f"{tag}-{k}-{i}")
        found = [synthetic_finding(f"f-{tag}-{k}-{i}-{j}", rng) for j in range(2)]
        t = time.perf_counter()
        store = open_store(get_settings())
        opened = time.perf_counter() - t
        store.add_many(found)
        return opened

    return query, add


def chroma_client(threads: int, seconds: float, tag: str) -> None:
    """One client process: `threads` threads, each a closed loop of 2 queries then 1 add.
    Imports and the first connection happen before "ready"; the clock starts at "go"."""
    from aar.config import get_settings
    from aar.memory import open_store

    query, add = memory_ops(tag)
    open_store(get_settings()).count()
    print("ready", flush=True)
    sys.stdin.readline()
    stats: dict[str, list[float]] = {"query": [], "add": [], "open": []}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(k: int) -> None:
        i = k % 3  # threads out of phase: adds start at once, not after two queries
        while time.perf_counter() < deadline:
            kind, op = ("add", add) if i % 3 == 2 else ("query", query)
            t = time.perf_counter()
            try:
                opened = op(k, i)
                with lock:
                    stats[kind].append(time.perf_counter() - t)
                    stats["open"].append(opened)
            except Exception as exc:  # counted and shown, the load goes on
                with lock:
                    errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:200])
            i += 1

    t0, c0 = time.perf_counter(), time.process_time()
    pool = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps(stats | {"wall": wall, "cpu": cpu, "errors": errors}), flush=True)


def chroma_process() -> psutil.Process | None:
    """The Chroma server `chroma_server` started under this process."""
    for p in psutil.Process().children(recursive=True):
        try:
            if "chroma" in " ".join(p.cmdline()) and "run" in p.cmdline():
                return p
        except psutil.Error:
            continue
    return None


def start_clients(url: str, clients: int, seconds: float, level: int) -> list[Any]:
    """Up to 4 client processes sharing `clients` threads, each ready (imports done, store
    opened once) when this returns."""
    procs_n = min(clients, 4)
    env = dict(os.environ) | {"AAR_MEMORY_URL": url, "AAR_MEMORY__EMBEDDING": "static"}
    procs = []
    for p in range(procs_n):
        threads = clients // procs_n + (p < clients % procs_n)
        cmd = [sys.executable, str(HERE), "--chroma-client", str(threads), str(seconds)]
        procs.append(
            subprocess.Popen(
                [*cmd, f"l{level}p{p}"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return procs


def chroma_level(url: str, clients: int, seconds: float, level: int) -> dict[str, Any]:
    """`clients` concurrent clients as up to 4 processes of threads (a process per machine's
    researchers, roughly); queries/s, adds/s, their latency, and the CPU per operation of
    the server and of the clients (embedding, index sync, HTTP)."""
    procs = start_clients(url, clients, seconds, level)
    server = chroma_process()
    cpu0 = cpu_s(server) if server else float("nan")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [json.loads(proc.communicate(timeout=seconds + 300)[0]) for proc in procs]
    server_cpu = (cpu_s(server) if server else float("nan")) - cpu0
    wall = max(r["wall"] for r in results)
    q = [x for r in results for x in r["query"]]
    a = [x for r in results for x in r["add"]]
    opened = [x for r in results for x in r["open"]]
    errors = [e for r in results for e in r["errors"]]
    ops = max(len(q) + len(a), 1)
    return {
        "clients": clients,
        "processes": len(procs),
        "queries_per_s": len(q) / wall,
        "query_p50_ms": 1000 * pct(q, 0.5),
        "query_p95_ms": 1000 * pct(q, 0.95),
        "adds_per_s": len(a) / wall,
        "add_p95_ms": 1000 * pct(a, 0.95),
        "open_p50_ms": 1000 * pct(opened, 0.5),
        "server_cpu_ms_per_op": 1000 * server_cpu / ops,
        "client_cpu_ms_per_op": 1000 * sum(r["cpu"] for r in results) / ops,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def chroma_load(levels: list[int], seconds: float, seed_n: int, base: Path) -> list[dict]:
    """A Chroma server on a fresh directory, `seed_n` findings in it, then each level."""
    from aar.config import get_settings
    from aar.memory import chroma_server, open_store

    cells = []
    with chroma_server(base / "chroma-load") as url:
        os.environ |= {"AAR_MEMORY_URL": url, "AAR_MEMORY__EMBEDDING": "static"}
        get_settings.cache_clear()
        rng = random.Random(0)
        store = open_store(get_settings())
        store.add_many([synthetic_finding(f"f-seed-{i}", rng) for i in range(seed_n)])
        for level, clients in enumerate(levels):
            cell = chroma_level(url, clients, seconds, level)
            cell["stored_after"] = open_store(get_settings()).count()
            print(
                f"  chroma {clients:>3} clients: {cell['queries_per_s']:6.1f} queries/s "
                f"(p50 {cell['query_p50_ms']:.0f} ms, p95 {cell['query_p95_ms']:.0f} ms), "
                f"{cell['adds_per_s']:5.1f} adds/s (p95 {cell['add_p95_ms']:.0f} ms), open "
                f"{cell['open_p50_ms']:.0f} ms, CPU/op server {cell['server_cpu_ms_per_op']:.0f} "
                f"ms client {cell['client_cpu_ms_per_op']:.0f} ms, "
                f"{cell['stored_after']} stored, errors {cell['errors']} {cell['first_error']}",
                flush=True,
            )
            cells.append(cell)
        for key in ("AAR_MEMORY_URL", "AAR_MEMORY__EMBEDDING"):
            os.environ.pop(key, None)
        get_settings.cache_clear()
    return cells


# -- the scale model -----------------------------------------------------------------------
def per_researcher(cells: list[dict[str, Any]]) -> dict[str, float]:
    """Demand per researcher-minute of its process, pooled over every session of part 1."""
    sessions = [s for c in cells for s in c["sessions"]]
    minutes = sum(s["process_s"] for s in sessions) / 60
    total = Counter[str]()
    for s in sessions:
        for key in (
            "evaluations_test",
            "evaluations_holdout",
            "memory_queries",
            "memory_adds",
            "findings_added",
            "model_requests",
            "hypotheses",
        ):
            total[key] += s[key]
    return {k: v / minutes for k, v in total.items()} | {
        "evaluations": (total["evaluations_test"] + total["evaluations_holdout"]) / minutes,
        "sessions": len(sessions),
        "minutes": minutes,
    }


def scale_model(demand: dict[str, float], scorer: list[dict], chroma: list[dict]) -> dict:
    """One researcher's demand per second at two paces, x 64, against the best capacity
    measured here; the team size at which each service saturates (capacity / demand).
    Scripted pace: as fast as the scripted agent went (its requests are instant). LLM pace:
    the same work per model request, at the session budget's default request rate."""
    from aar.session import Budgets

    budgets = Budgets()
    llm_per_min = (budgets.requests or 0) / (budgets.minutes or 1)
    per_request = llm_per_min / max(demand["model_requests"], 1e-9)  # scripted -> LLM pace
    rows = {
        "scorer evaluations/s": ("evaluations", [c["per_s"] for c in scorer]),
        "memory queries/s": ("memory_queries", [c["queries_per_s"] for c in chroma]),
        "memory adds/s": ("memory_adds", [c["adds_per_s"] for c in chroma]),
    }
    print(
        f"{'':<21} {'scripted: 1':>11} {'x64':>7} {'LLM: 1':>8} {'x64':>7} {'capacity':>8} "
        f"{'saturates at (scripted / LLM pace)':>35}"
    )
    out: dict[str, Any] = {}
    for name, (key, caps) in rows.items():
        one = demand[key] / 60
        llm = one * per_request
        cap = max(caps, default=float("nan"))
        out[name] = {"scripted": one, "llm": llm, "capacity": cap}
        print(
            f"{name:<21} {one:>11.3f} {64 * one:>7.2f} {llm:>8.4f} {64 * llm:>7.3f} {cap:>8.1f} "
            f"{cap / one:>20.0f} / {cap / llm:.0f} researchers"
        )
    print(
        f"LLM: a scripted session makes 0 provider requests (it logged "
        f"{demand['model_requests']:.1f} scripted ones a minute); the budget defaults "
        f"({budgets.requests} requests per {budgets.minutes:g}-minute round) give "
        f"{llm_per_min:.1f} requests/min per researcher, {64 * llm_per_min:.0f}/min for 64"
    )
    out["llm_requests_per_min"] = {"per_researcher": llm_per_min, "team_64": 64 * llm_per_min}
    return out


# -- main ----------------------------------------------------------------------------------
def commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def scorer_load(levels: list[int], seconds: float, cap: int, base: Path) -> list[dict]:
    cells = []
    for threads in levels:
        cell = scorer_level(threads, seconds, cap, base)
        mark = "" if cell["per_s"] >= SCORER_TARGET else f"  (< {SCORER_TARGET:g}/s target)"
        print(
            f"  scorer {threads:>3} clients: {cell['per_s']:6.1f} evals/s (p50 "
            f"{cell['p50_ms']:.0f} ms, p95 {cell['p95_ms']:.0f} ms), {cell['ops']} in the "
            f"ledger run ({cell['ledger_entries']} entries, {cell['test_rows']} test rows), "
            f"server CPU {cell['server_cpu_ms_per_op']:.1f} ms/eval, "
            f"warm {cell['warm_s']:.1f} s, errors {cell['errors']} {cell['first_error']}"
            f"{mark}",
            flush=True,
        )
        cells.append(cell)
    return cells


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=8.0, help="per load level")
    parser.add_argument("--scorer-cap", type=int, default=2000, help="submissions per level")
    parser.add_argument("--seed-findings", type=int, default=300)
    parser.add_argument("--dask-n", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--hypotheses", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="team pairs (1 and 2) to run")
    parser.add_argument("--skip-team", action="store_true", help="parts 2 and 3 only")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--team-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scorer-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--chroma-client", nargs=3, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.team_child:
        return team_child(args.team_child, args.seeds, args.hypotheses)
    if args.scorer_child:
        return scorer_child(*args.scorer_child)
    if args.chroma_client:
        threads, seconds, tag = args.chroma_client
        return chroma_client(int(threads), float(seconds), tag)
    t0 = time.perf_counter()
    print(
        f"bench_team: commit {commit()}, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{psutil.cpu_count()} cores, load average {loadavg()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="aar-bench-team-") as tmp:
        base = Path(tmp)
        isolate(base)
        out: dict[str, Any] = {"commit": commit(), "load_start": loadavg()}
        if not args.skip_team:
            print("1. throughput (scripted, offline)", flush=True)
            out["teams"] = throughput(args, base)
        print("2. overhead", flush=True)
        out["dask"] = dask = dask_overhead(2, args.dask_n)
        print(
            f"  dask (2 workers): cluster start {dask['cluster_start_s']:.1f} s, submit+result "
            f"p50 {dask['roundtrip_p50_ms']:.1f} ms p95 {dask['roundtrip_p95_ms']:.1f} ms "
            f"(target <= {DASK_TARGET_MS:g}), map {dask['map_per_task_ms']:.2f} ms/task",
            flush=True,
        )
        print(f"3a. scorer service ({TASK} seed 42, fsync on, fresh ledger per level)")
        out["scorer"] = scorer_load(args.levels, args.seconds, args.scorer_cap, base)
        print(f"3b. Chroma server ({args.seed_findings} findings seeded, static embedding)")
        out["chroma"] = chroma_load(args.levels, args.seconds, args.seed_findings, base)
        if "teams" in out:
            print("model (per-researcher demand from part 1's sessions x 64)")
            out["demand"] = per_researcher(out["teams"])
            out["model"] = scale_model(out["demand"], out["scorer"], out["chroma"])
    out["load_end"] = loadavg()
    out["total_s"] = time.perf_counter() - t0
    print(f"done in {out['total_s']:.0f} s; load average {out['load_start']} -> {out['load_end']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
