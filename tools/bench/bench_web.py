"""The review web page under load: server-side render time of every page type.

Run: `.venv/bin/python tools/bench/bench_web.py [--sessions 100] [--findings 10000]
[--audit 10000] [--repeat 30]`. The pages are timed on REAL sessions: two scripted `aar run`
rounds (one task, two seeds, one hypothesis; the scripted researcher ends each round with a
follow-up sweep proposal of ~450 lines, the size reviewers read); the first session's
follow-up is approved and `aar resume` runs it (round 2), the second is left awaiting review.
Around them, for scale, it builds a runs directory of `--sessions` synthetic but valid
sessions (each `events.jsonl` written with `aar.session.EventLog`: baselines and a hypothesis
on 2 tasks x 5 seeds with test and holdout records, model requests, tool calls, findings,
three proposals; the report rendered by `aar.session.render_markdown` from `report_data`, a
figure, `report.json`), a findings memory with `--findings` findings (the `static` embedding,
so it fills in seconds), and an audit log of `--audit` records (decisions on proposals through
`aar.review`, the rest appended in one transaction). Then it starts a real `aar serve`, logs
in, and reads each page's `Server-Timing` header (the app's own time, from request to rendered
response): the first load of each page type (empty caches), p50/p95 of `--repeat` warm loads,
and the first loads after each of 5 decisions made on the page. Targets: every page <= 20 ms
server-side p50 with one client (issue 22); a report page with its figure <= 200 ms p95."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TASKS = ["digits-ge5", "synthetic-gap-medium"]
SEEDS = [42, 43, 44, 45, 46]
METHODS = [("naive", "e-01-base"), ("logconf", "e-01-base"), ("bootstrap-steps-3", "e-02-hyp")]
WORDS = [
    "confidence",
    "auxiliary",
    "loss",
    "bootstrap",
    "early",
    "stopping",
    "filtering",
    "weak",
    "labels",
    "student",
    "ceiling",
    "gap",
    "temperature",
    "smoothing",
    "co-training",
    "hardened",
    "random",
    "flips",
    "control",
    "paired",
    "seeds",
    "sweep",
    "threshold",
    "warm-up",
    "ensemble",
    "critic",
    "relabel",
    "consistency",
    "calibration",
    "margin",
    "entropy",
]
TARGET_MS = 200.0
PAGE_P50_MS = 20.0
"""Every page's warm p50 with one client (issue 22)."""
REAL_RUN = ["-t", "digits-ge5", "--seeds", "2", "--hypotheses", "1"]


def _record(i: int, task: str, seed: int, method: str, split: str, rng: random.Random) -> Any:
    from aar.bench import EvalRecord

    pgr = rng.uniform(-0.1, 0.8)
    return EvalRecord(
        id=f"{i:08x}{rng.getrandbits(96):024x}",
        task=task,
        seed=seed,
        split=split,  # type: ignore[arg-type]
        method=method,
        metrics={
            "acc": 0.8 + pgr / 10,
            "auroc": 0.85,
            "pgr_acc": pgr,
            "pgr_auroc": pgr,
            "n": 269.0,
        },
        code_sha256=f"{rng.getrandbits(256):064x}",
        git_commit=f"{rng.getrandbits(160):040x}",
        timestamp=datetime.now(UTC),
        rounded=split == "test",
        rounding=0.01 if split == "test" else None,
        predictions_sha256=f"{rng.getrandbits(256):064x}",
        budget_used=i % 200,
        budget_total=200,
    )


def _finding(session_id: str, n: int, rng: random.Random, records: list[str]) -> Any:
    from aar.memory import Finding, Metrics

    words = " ".join(rng.sample(WORDS, 6))
    mean = round(rng.uniform(-0.1, 0.8), 3)
    return Finding(
        session_id=session_id,
        round=1,
        summary=f"{words} (#{n}) changes PGR against naive",
        hypothesis=f"{rng.choice(WORDS)} {rng.choice(WORDS)} helps the student",
        method=rng.choice(["logconf", "bootstrap", "early stopping", "confidence filter"]),
        tasks=[rng.choice(TASKS)],
        metrics=Metrics(pgr_acc_mean=mean, pgr_acc_se=0.05, seeds=SEEDS),
        final_metrics=Metrics(pgr_acc_mean=mean - 0.02, pgr_acc_se=0.06, seeds=SEEDS),
        eval_record_ids=records[:5],
        verdict=rng.choice(["supported", "refuted", "inconclusive"]),
    )


def _emit(log: Any, kind: str, data: dict[str, Any], round: int = 0) -> Any:
    """`log.append` of the typed event of `kind` (the log takes events, not dicts)."""
    from pydantic import TypeAdapter

    from aar.session import AnyEventData

    event = TypeAdapter(AnyEventData).validate_python({"kind": kind, **data})
    return log.append(event, round=round)


def build_session(runs: Path, i: int, figure: bytes, rng: random.Random) -> tuple[str, list[Any]]:
    """One synthetic session awaiting review; returns its id and its three findings."""
    from aar.hashing import join_cells
    from aar.review import new_proposal, write_proposal
    from aar.session import EventLog, SessionConfig

    sid = f"s-20261201-{100000 + i}-{rng.getrandbits(24):06x}"
    root = runs / sid
    root.mkdir()
    log = EventLog(root)
    config = SessionConfig(tasks=TASKS, seeds=SEEDS)
    _emit(
        log,
        "created",
        {
            "id": sid,
            "config": config.model_dump(mode="json"),
            "key_id": "x",
            "isolation": "bwrap",
            "public": {},
        },
    )
    _emit(log, "round_started", {"round_kind": "research", "followups": []}, round=1)
    cells = {"e-01-base": ["print('baselines')", "print('scored')"], "e-02-hyp": ["print('h')"]}
    _emit(
        log,
        "hypothesis",
        {
            "id": "h1-1",
            "round": 1,
            "statement": "bootstrapping helps",
            "method": "bootstrap-steps-3",
        },
        round=1,
    )
    for exp, hyp in (("e-01-base", "baselines"), ("e-02-hyp", "h1-1")):
        _emit(log, "experiment_started", {"id": exp, "round": 1, "hypothesis_id": hyp}, round=1)
        (root / "experiments" / exp).mkdir(parents=True)
        (root / "experiments" / exp / "cells.py").write_text(join_cells(cells[exp]))
        for k, code in enumerate(cells[exp]):
            _emit(
                log,
                "cell",
                {
                    "experiment": exp,
                    "index": k,
                    "code": code,
                    "status": "ok",
                    "duration_s": 0.6,
                    "cpu_s": 0.5,
                },
                round=1,
            )
        _emit(log, "experiment_ended", {"experiment": exp, "status": "done"}, round=1)
    records = _evaluations(log, i, rng)
    for _ in range(20):
        _emit(
            log,
            "model_request",
            {"model": "scripted", "input_tokens": 900, "output_tokens": 120, "usd": None},
            round=1,
        )
    for n in range(150):
        outcome = json.dumps({"result": " ".join(rng.choices(WORDS, k=120))})
        _emit(
            log,
            "tool",
            {"name": "run_cell", "args": {}, "outcome": outcome, "call_id": f"r1-{n}"},
            round=1,
        )
    findings = [_finding(sid, n, rng, records) for n in range(3)]
    for f in findings:
        _emit(log, "finding", {"finding": f.model_dump(mode="json")}, round=1)
    proposals = []
    for n in range(3):
        code = join_cells([*cells["e-02-hyp"], f"print('sweep {n}', {[0.25 * n, 0.5]})"])
        p = new_proposal(
            sid,
            1,
            f"sweep {n}: {' '.join(rng.sample(WORDS, 5))}",
            code,
            estimated_evaluations=10,
            estimated_tokens=2000,
            follows="e-02-hyp",
        )
        write_proposal(root, p)
        _emit(log, "proposal", {"id": p.id, "sha256": p.sha256, "path": f"{p.id}.json"}, round=1)
        proposals.append(p)
    _emit(log, "round_ended", {"why": "finished by the agent", "summary": "three sweeps"}, round=1)
    _emit(log, "state", {"state": "awaiting_review", "why": "proposals await review"}, round=1)
    _report(root, log, proposals, figure)
    return sid, findings


def _evaluations(log: Any, i: int, rng: random.Random) -> list[str]:
    from aar.session import EvalEntry

    ids = []
    for split in ("test", "holdout"):
        for task in TASKS:
            for seed in SEEDS:
                for method, exp in METHODS:
                    record = _record(i, task, seed, method, split, rng)
                    entry = EvalEntry(record=record, experiment=exp, round=1)
                    _emit(
                        log,
                        "evaluation" if split == "test" else "holdout",
                        entry.model_dump(mode="json"),
                        round=1,
                    )
                    ids.append(record.id)
    return ids


def _report(root: Path, log: Any, proposals: list[Any], figure: bytes) -> None:
    from aar.session import render_markdown, report_data

    rows = [
        {
            "id": p.id,
            "rationale": p.rationale,
            "sha256": p.sha256,
            "evals": "10",
            "expires": f"{p.expires_at:%Y-%m-%d}",
        }
        for p in proposals
    ]
    data = report_data(log.state(), 1, rows)
    directory = root / "rounds" / "1"
    directory.mkdir(parents=True)
    (directory / "pgr.png").write_bytes(figure)
    (directory / "report.json").write_text(data.model_dump_json(indent=2))
    (directory / "report.md").write_text(render_markdown(data))


def _figure(path: Path) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.2), dpi=110)
    for k, (method, _) in enumerate(METHODS):
        ax.bar([j + k * 0.27 for j in range(len(TASKS))], [0.2 + 0.1 * k] * 2, 0.27, label=method)
    ax.set_xticks([0.27, 1.27], TASKS)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.read_bytes()


def _aar(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aar", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _finished(proc: subprocess.Popen[str], what: str) -> str:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{out}")
    return out


def real_sessions(runs: Path, env: dict[str, str]) -> dict[str, Any]:
    """Two real scripted sessions (see the module doc): the first resumed after its follow-up
    was approved, the second awaiting review. Returns the ids the pages are read with."""
    from aar.review import approve
    from aar.session import EventLog

    t0 = time.perf_counter()
    runs_out = [_finished(p, "aar run") for p in [_aar(env, "run", *REAL_RUN) for _ in range(2)]]
    sids = [re.search(r"session (s-\S+)", out).group(1) for out in runs_out]  # type: ignore[union-attr]
    first = EventLog(runs / sids[0]).state()
    approve(runs, first.proposals[0], "alice", "bench: run the sweep")
    _finished(_aar(env, "resume", sids[0]), "aar resume")
    resumed, waiting = (EventLog(runs / sid).state() for sid in sids)
    code = json.loads((runs / sids[1] / "proposals" / f"{waiting.proposals[0]}.json").read_text())
    print(
        f"built 2 real sessions in {time.perf_counter() - t0:.0f} s (the pending proposal: "
        f"{code['code'].count(chr(10))} lines, {len(code['code']):,} characters)"
    )
    return {
        "resumed": sids[0],
        "waiting": sids[1],
        "approved": first.proposals[0],
        "proposal": waiting.proposals[0],
        "finding": next(iter(waiting.findings)),
        "record": resumed.evaluations[-1].record.id,
        "rounds": len(resumed.rounds),
    }


def build(
    root: Path, n_sessions: int, n_findings: int, n_audit: int, env: dict[str, str]
) -> dict[str, Any]:
    from aar.config import get_settings
    from aar.memory import open_store
    from aar.review import AuditLog, Decision, approve, finding_sha256, reject

    rng = random.Random(7)
    runs = root / "runs"
    runs.mkdir()
    real = real_sessions(runs, env)
    figure = _figure(root / "figure.png")
    t0 = time.perf_counter()
    sessions, findings = [], []
    for i in range(n_sessions):
        sid, mine = build_session(runs, i, figure, rng)
        sessions.append(sid)
        findings += mine
    t_sessions = time.perf_counter() - t0
    while len(findings) < n_findings:
        findings.append(_finding(rng.choice(sessions), len(findings), rng, []))
    t0 = time.perf_counter()
    open_store(get_settings()).add_many(findings[:n_findings])
    t_memory = time.perf_counter() - t0
    t0 = time.perf_counter()
    pending = []
    for sid in sessions:
        ps = sorted((runs / sid / "proposals").glob("p-*.json"))
        approve(runs, ps[0].stem, "alice", "fine")
        reject(runs, ps[1].stem, "bob", "not now")
        pending.append(ps[2].stem)
    with AuditLog(runs).transaction() as txn:
        for f in findings[: max(0, n_audit - 2 * n_sessions)]:
            txn.append(
                Decision(
                    item="finding",
                    item_id=f.id,
                    session_id=f.session_id,
                    sha256=finding_sha256(f),
                    decision="approve",
                    reviewer="carol",
                    comment="replicates",
                    decided_at=datetime.now(UTC),
                ),
                "recorded",
            )
    t_audit = time.perf_counter() - t0
    print(
        f"built {n_sessions} sessions in {t_sessions:.1f} s, {n_findings} findings in "
        f"{t_memory:.1f} s, {len(AuditLog(runs).records())} audit records in {t_audit:.1f} s"
    )
    pending = [real["proposal"], *pending]  # decisions are made on the real one first
    return {"runs": runs, "sessions": sessions, "pending": pending, "real": real}


def _server(runs: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aar", "serve", "--port", "0", "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    url = re.search(r"(http://\S+?)/?$", line.strip())
    if url is None:
        raise SystemExit(f"aar serve did not start: {line!r}")
    ready = time.perf_counter() - started
    print(f"aar serve ready (memory opened and searched once) {ready:.1f} s after its start")
    return proc, url.group(1)


def _timing(response: Any) -> float:
    match = re.search(r"dur=([0-9.]+)", response.headers.get("server-timing", ""))
    if response.status_code not in (200, 303) or match is None:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return float(match.group(1))


def measure(built: dict[str, Any], token: str, env: dict[str, str], repeat: int) -> None:
    import httpx

    proc, url = _server(built["runs"], env)
    try:
        _measure(httpx.Client(base_url=url, timeout=120), built, token, repeat)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _pages(built: dict[str, Any]) -> dict[str, str]:
    """Every page type, read on the real sessions (the synthetic ones only add volume)."""
    real = built["real"]
    sid, waiting = real["resumed"], real["waiting"]
    return {
        "sessions list": "/",
        "session page": f"/sessions/{sid}",
        "report page": f"/sessions/{sid}/rounds/1",
        "its figure": f"/sessions/{sid}/rounds/1/files/pgr.png",
        "round 2 report": f"/sessions/{sid}/rounds/{real['rounds']}",
        "record page": f"/sessions/{sid}/records/{real['record']}",
        "proposal page": f"/proposals/{real['proposal']}",
        "approved sweep": f"/proposals/{real['approved']}",
        "finding page": f"/findings/{real['finding']}",
        "waiting session": f"/sessions/{waiting}",
        "audit page": "/audit",
        "memory search": "/memory?q=early+stopping+at+large+gaps&status=pending",
        "leaderboard": "/leaderboard",
    }


def _measure(client: Any, built: dict[str, Any], token: str, repeat: int) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"token": token, "csrf": csrf})
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/audit").text).group(1)  # type: ignore[union-attr]
    pages = _pages(built)
    first = {name: _timing(client.get(path)) for name, path in pages.items()}
    warm: dict[str, list[float]] = {name: [] for name in pages}
    for n in range(repeat):
        for name, path in pages.items():
            path = (
                path.replace("early+stopping", WORDS[n % len(WORDS)]) if "memory" in name else path
            )
            warm[name].append(_timing(client.get(path)))
    after: dict[str, list[float]] = {"sessions list": [], "proposal page": [], "audit page": []}
    for pid in built["pending"]:
        if len(after["proposal page"]) == 5:
            break
        sha = re.search(
            r'name="sha256" value="([0-9a-f]{64})"', client.get(f"/proposals/{pid}").text
        )
        if sha is None:  # decided by an earlier run on a --keep directory
            continue
        form = {"csrf": csrf, "verdict": "approve", "sha256": sha.group(1), "comment": "bench"}
        _timing(client.post(f"/items/{pid}/decide", data=form))
        after["proposal page"].append(_timing(client.get(f"/proposals/{pid}")))
        after["sessions list"].append(_timing(client.get("/")))
        after["audit page"].append(_timing(client.get("/audit")))
    _print(first, warm, after)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _print(
    first: dict[str, float], warm: dict[str, list[float]], after: dict[str, list[float]]
) -> None:
    load = os.getloadavg()
    print(
        f"\nserver-side ms (Server-Timing), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    header = ("page", "first load", "warm p50", "warm p95", "after a decision p50")
    print("{:<16} {:>10} {:>9} {:>9} {:>21}".format(*header))
    for name, values in warm.items():
        later = f"{statistics.median(after[name]):.1f}" if name in after else "-"
        cells = (name, f"{first[name]:.1f}", f"{_p(values, 0.5):.1f}", f"{_p(values, 0.95):.1f}")
        print("{:<16} {:>10} {:>9} {:>9} {:>21}".format(*cells, later))
    slow = [name for name, values in warm.items() if _p(values, 0.5) > PAGE_P50_MS]
    worst = max(warm, key=lambda name: _p(warm[name], 0.5))
    print(
        f"every page's warm p50 <= {PAGE_P50_MS:.0f} ms: "
        + (f"MISSED by {', '.join(slow)}" if slow else f"met (slowest: {worst})")
    )
    report = _p(warm["report page"], 0.95) + _p(warm["its figure"], 0.95)
    verdict = "met" if report <= TARGET_MS else "MISSED"
    print(
        f"report page + figure, warm p95: {report:.1f} ms (target <= {TARGET_MS:.0f} ms: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--audit", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="Keep the runs directory.")
    parser.add_argument(
        "--reuse", type=Path, help="Measure on a copy of a directory kept by --keep (no build)."
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aar-bench-web-"))
    if args.reuse:
        shutil.copytree(args.reuse, root, dirs_exist_ok=True, symlinks=True)
    from aar.web import new_token, token_hash

    token = new_token()
    env = {
        **os.environ,
        "AAR_RUNS_DIR": str(root / "runs"),
        "AAR_MEMORY_PATH": str(root / "memory"),
        "AAR_MEMORY__EMBEDDING": "static",
        "AAR_REVIEW__KEY_FILE": str(root / "review-key"),
        "AAR_REVIEW__REVIEWERS": json.dumps({"alice": token_hash(token)}),
    }
    os.environ.update(env)
    try:
        if args.reuse:
            built = json.loads((root / "built.json").read_text()) | {"runs": root / "runs"}
        else:
            built = build(root, args.sessions, args.findings, args.audit, env)
            saved = {k: v for k, v in built.items() if k != "runs"}
            (root / "built.json").write_text(json.dumps(saved))
        measure(built, token, env, args.repeat)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
