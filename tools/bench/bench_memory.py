"""Findings-memory benchmark: retrieval on both labelled sets, latency, add and import, CLI.

Run: `.venv/bin/python tools/bench/bench_memory.py [--n 10000] [--embedding minilm static]`

One run measures, on this machine (the load average is printed at start and end):
- recall@5 / @10 through `FindingsStore.search` on the issue's set (tests/memory/data) and the
  held-out paraphrase set (tests/memory/data/heldout), for each configuration: `minilm` (the
  default: MiniLM fused with the static table, plus the method-family bonus), `static` (the
  table plus the bonus); and the levers one by one (no bonus, no fusion, BM25 via SQLite FTS5
  fused by reciprocal rank), so each one's contribution is visible;
- `add_many` (embedding, duplicate check, chromadb and index writes), findings/s;
- query latency p50/p95 (query embedding included) at N findings, local store and a real
  Chroma server on 127.0.0.1: unfiltered, task + verdict, verdict only. The store is filled to
  N: --add-n through `add_many`, the rest written with vectors of a pool of distinct texts
  plus small noise (all N vectors distinct) to save the minutes MiniLM would take;
- export of the N findings, and their import into a fresh store re-using the vectors
  (findings/s, median of 5), each run in a new process as `aar memory import` runs it,
  interleaved with chromadb's own `add` of the same N vectors and the same one-key metadata
  (the finding's JSON) that aar stores, the floor of any import (median of 5); once more with
  a cheaper HNSW graph (the rejected lever), each with the share of the exact top 5 that a
  direct chromadb query finds; and `aar memory import FILE` end to end (median of 3);
- `aar memory query` end to end (a new process, start to printed table) against the N-finding
  store, a usage error (`aar memory list -n -1`) and `aar --help`: median of 5.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "memory" / "data"
BIN = Path(sys.executable).parent

import numpy as np  # noqa: E402

from aar.config import MemorySettings, Settings, get_settings  # noqa: E402
from aar.memory import (  # noqa: E402  (_collection, _index, _open, _ranking: internals)
    Finding,
    FindingFilter,
    FindingsStore,
    Metrics,
    _collection,
    _index,
    _open,
    _ranking,
    load_embedder,
    open_store,
    read_export,
)
from aar.memory._records import record_metadata  # noqa: E402

Kind = Literal["minilm", "static"]  # MemorySettings.embedding

TASKS = ["sentiment", "tweets_sentiment", "news_topic", "breast_cancer", "wine", "digits_parity"]
QUERIES = [
    "does the confidence loss help on sentiment",
    "early stopping with weak validation labels",
    "bigger student recovers more of the gap",
    "weak supervisor errors on hard examples",
    "results too noisy across seeds",
    "label probing by flipping predictions",
]
# name -> (corpus folder, query file). The blind sets (tests/memory/data/blind, written by
# someone who never saw the search code or glossary): *_dev may guide tuning; *_test only
# with --blind-test, once, for the final number.
SETS = {
    "issue": ("", "queries.json"),
    "heldout": ("heldout", "queries.json"),
    "blind_A_dev": ("", "blind/A_dev.json"),
    "blind_B_dev": ("heldout", "blind/B_dev.json"),
}
TEST_SETS = {
    "blind_A_test": ("", "blind/A_test.json"),
    "blind_B_test": ("heldout", "blind/B_test.json"),
}


def labelled(subset: str = "", queries: str = "queries.json") -> tuple[list[Finding], list[dict]]:
    with (DATA / subset / "findings.jsonl").open() as fh:
        findings = [Finding.model_validate_json(line) for line in fh if line.strip()]
    path = DATA / queries if queries.startswith("blind/") else DATA / subset / queries
    return findings, json.loads(path.read_text())


def cache_dir() -> Path:
    return Path(get_settings().memory.cache_dir)


def make_store(path: Path, channels: list, *, dedup: float = 0.95) -> FindingsStore:
    return FindingsStore(
        _open._local_client(path),
        channels,
        location=str(path),
        mode="local",
        cache_dir=cache_dir(),
        index_path=path / _index.INDEX_NAME,
        lock_path=path / ".aar-memory.lock",
        dedup_threshold=dedup,
    )


def recall(rank: dict[str, list[str]], queries: list[dict], k: int) -> float:
    return statistics.fmean(
        len(set(rank[q["query"]][:k]) & set(q["relevant"])) / len(q["relevant"]) for q in queries
    )


def store_ranking(channels: list, data: tuple[str, str], root: Path, weights: tuple) -> dict:
    """Every query's top 10 through the real store (labelled findings only); `weights`:
    family, task and lexical weights for this configuration."""
    findings, queries = labelled(*data)
    names = ("FAMILY_WEIGHT", "TASK_WEIGHT", "LEXICAL_WEIGHT")
    saved = [getattr(_ranking, n) for n in names]
    for n, w in zip(names, weights, strict=True):
        setattr(_ranking, n, w)
    try:
        store = make_store(Path(tempfile.mkdtemp(dir=root)), channels, dedup=1.01)
        store.add_many(findings)
        return {q["query"]: [h.finding.id for h in store.search(q["query"], k=10)] for q in queries}
    finally:
        for n, w in zip(names, saved, strict=True):
            setattr(_ranking, n, w)


def bm25_ranking(data: tuple[str, str]) -> dict[str, list[str]]:
    """SQLite FTS5 bm25 (porter stemming) over the findings' text: the lexical lever."""
    findings, queries = labelled(*data)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
    db.executemany(
        "INSERT INTO t(rowid, x) VALUES (?, ?)",
        list(enumerate(f.embedding_text() for f in findings)),
    )
    out = {}
    for q in queries:
        terms = " OR ".join(f'"{w}"' for w in re.findall(r"\w+", q["query"].lower()))
        rows = db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t)", (terms,))
        out[q["query"]] = [findings[r[0]].id for r in rows][:50]
    return out


def rrf(*rankings: dict[str, list[str]], k: int = 60) -> dict[str, list[str]]:
    fused = {}
    for query in rankings[0]:
        score: dict[str, float] = {}
        for rank in rankings:
            for i, fid in enumerate(rank[query]):
                score[fid] = score.get(fid, 0.0) + 1.0 / (k + i + 1)
        fused[query] = sorted(score, key=lambda f: -score[f])[:10]
    return fused


DEFAULT = "default (minilm + static + families + tasks + bm25)"


def retrieval(root: Path, sets: dict[str, tuple[str, str]], full: bool = True) -> dict:
    minilm, static = load_embedder("minilm", cache_dir()), load_embedder("static", cache_dir())
    fam, task, lex = _ranking.FAMILY_WEIGHT, _ranking.TASK_WEIGHT, _ranking.LEXICAL_WEIGHT
    configs: dict[str, tuple[list, tuple]] = {
        DEFAULT: ([minilm, static], (fam, task, lex)),
        "no bm25": ([minilm, static], (fam, task, 0.0)),
        "no tasks": ([minilm, static], (fam, 0.0, lex)),
        "families only (no tasks, no bm25)": ([minilm, static], (fam, 0.0, 0.0)),
        "static (+ families, tasks, bm25)": ([static], (fam, task, lex)),
        "minilm + static, no bonus, no bm25": ([minilm, static], (0.0, 0.0, 0.0)),
        "minilm alone": ([minilm], (0.0, 0.0, 0.0)),
        "static alone": ([static], (0.0, 0.0, 0.0)),
    }
    if not full:
        configs = {DEFAULT: configs[DEFAULT]}
    out: dict = {}
    for name, data in sets.items():
        queries = labelled(*data)[1]
        ranks = {c: store_ranking(ch, data, root, w) for c, (ch, w) in configs.items()}
        if not full:
            out[name] = {DEFAULT: {"recall_at5": recall(ranks[DEFAULT], queries, 5)}}
            continue
        ranks["bm25 alone (FTS5)"] = bm25_ranking(data)
        ranks["default RRF-fused with bm25"] = rrf(
            ranks[next(iter(configs))], ranks["bm25 alone (FTS5)"]
        )
        out[name] = {
            c: {"recall_at5": recall(r, queries, 5), "recall_at10": recall(r, queries, 10)}
            for c, r in ranks.items()
        }
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
                metrics=Metrics(pgr_acc_mean=mean, pgr_acc_se=round(rng.uniform(0.01, 0.2), 3)),
                eval_record_ids=[f"ev-{i}-{s}" for s in range(3)],
                verdict=rng.choice(["supported", "refuted", "inconclusive"]),
                created_at=t0 + timedelta(minutes=i),
                tags=list(a.tags[:2]),
            )
        )
    return out


def fill_vectors(channels: list, findings: list[Finding], pool: int) -> list[np.ndarray]:
    """Per channel: vectors of `pool` distinct texts, repeated with small noise (all distinct)."""
    rng = np.random.default_rng(0)
    out = []
    for emb in channels:
        base = emb.embed([f.embedding_text() for f in findings[:pool]])
        vecs = base[np.arange(len(findings)) % len(base)]
        vecs = vecs + rng.normal(0, 0.02, vecs.shape).astype(np.float32)
        out.append((vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32))
    return out


def fill(store: FindingsStore, findings: list[Finding], add_n: int, vectors: list) -> float:
    """`add_many` for the first `add_n` (timed, findings/s), then the rest with `vectors`."""
    started = time.perf_counter()
    for i in range(0, add_n, 200):
        store.add_many(findings[i : min(i + 200, add_n)])
    rate = add_n / (time.perf_counter() - started) if add_n else float("nan")
    rest = findings[add_n:]
    if rest:
        with store._sync.writing() as writer:  # the internal write path: vectors computed
            store._write(writer, rest, [v[add_n:] for v in vectors])
    assert store.count() == len(findings)
    return rate


def latency(store: FindingsStore) -> dict:
    def timed(filters: Callable[[int], FindingFilter | None]) -> list[float]:
        out = []
        for r in range(60):
            t = time.perf_counter()
            store.search(QUERIES[r % len(QUERIES)], filters(r), k=10)
            out.append(1000 * (time.perf_counter() - t))
        return out

    def p(xs: list[float], q: int) -> float:
        return statistics.quantiles(xs, n=20)[q - 1] if q != 10 else statistics.median(xs)

    plain = timed(lambda r: None)
    both = timed(lambda r: FindingFilter(task=TASKS[r % len(TASKS)], verdict="supported"))
    broad = timed(lambda r: FindingFilter(verdict="supported"))
    return {
        "query_p50_ms": p(plain, 10),
        "query_p95_ms": p(plain, 19),
        "task_verdict_p50_ms": p(both, 10),
        "verdict_p50_ms": p(broad, 10),
    }


def raw_chroma_add(
    path: Path, vectors: np.ndarray, metadatas: list | None = None, *, light: bool = False
) -> dict:
    """chromadb's own `add` of the same vectors (and the same metadata), findings/s, in a
    collection configured as aar's (`light`: with a cheaper HNSW graph, the rejected lever),
    and how much of the exact top 5 a direct chromadb query then finds."""
    import chromadb
    from chromadb import HnswIndexConfig, VectorIndexConfig
    from chromadb.config import Settings as ChromaSettings

    schema = _collection._collection_schema()
    if light:
        hnsw = HnswIndexConfig(ef_construction=20, max_neighbors=12, ef_search=400)
        schema.create_index(
            config=VectorIndexConfig(space="cosine", embedding_function=None, hnsw=hnsw)
        )
    client = chromadb.PersistentClient(str(path), ChromaSettings(anonymized_telemetry=False))
    col = client.create_collection("baseline_raw", schema=schema, embedding_function=None)
    t = time.perf_counter()
    for i in range(0, len(vectors), 2000):
        col.add(
            ids=[str(j) for j in range(i, min(i + 2000, len(vectors)))],
            embeddings=vectors[i : i + 2000],
            metadatas=metadatas[i : i + 2000] if metadatas else None,
        )
    rate = len(vectors) / (time.perf_counter() - t)
    return {"per_s": rate, "direct_query_recall_at5": direct_recall(col, vectors)}


def direct_recall(col: object, vectors: np.ndarray, n: int = 200) -> float:
    """Share of the exact cosine top 5 that chromadb's own (HNSW) query returns, for `n`
    stored vectors plus noise as queries. aar never ranks through it; others might."""
    rng = np.random.default_rng(1)
    queries = vectors[rng.choice(len(vectors), n, replace=False)]
    queries = queries + rng.normal(0, 0.05, queries.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    got = col.query(query_embeddings=queries, n_results=5, include=[])  # type: ignore[attr-defined]
    return statistics.fmean(
        len({int(i) for i in ids} & set(row.tolist())) / 5
        for ids, row in zip(got["ids"], exact, strict=True)
    )


def transfer(store: FindingsStore, kind: Kind, root: Path, n: int) -> dict:
    """Export, then import into fresh stores the way `aar memory import` runs: each run a new
    process, interleaved with chromadb's own `add` of the same vectors and metadata, the floor."""
    path = root / f"{kind}-export.jsonl"
    t = time.perf_counter()
    with path.open("w", encoding="utf-8") as out:
        store.export_jsonl(out)
    export_s = time.perf_counter() - t
    imports, floors = [], []
    for r in range(5):
        imports.append(child("import", kind, path, root / f"{kind}-imported-{r}"))
        floors.append(child("raw", kind, path, root / f"{kind}-raw-{r}"))
    median = sorted(imports, key=lambda x: x["s"])[2]
    floor = sorted(floors, key=lambda x: x["per_s"])[2]
    return {
        "export_per_s": n / export_s,
        "export_mb": path.stat().st_size / 1e6,
        "import_per_s": n / median["s"],
        "import_per_s_runs": [n / x["s"] for x in imports],
        "import_share_in_chromadb_add": median["chromadb_s"] / median["s"],
        "raw_chromadb_add_with_metadata": floor,
        "raw_chromadb_add_per_s_runs": [x["per_s"] for x in floors],
        "raw_chromadb_add_with_metadata_light_hnsw": child(
            "raw-light", kind, path, root / f"{kind}-raw-light"
        ),
        "aar_memory_import_cli_s": cli_import(kind, path, root / f"{kind}-cli-import"),
    }


def child(mode: str, kind: Kind, export: Path, store: Path) -> dict:
    """One timed import (`mode` import) or raw chromadb add (raw, raw-light) in a new process."""
    cmd = [sys.executable, __file__, "--child", mode, str(export), str(store), "--embedding", kind]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def run_child(mode: str, kind: Kind, export: Path, path: Path) -> dict:
    """The child side of `child`: read the file (untimed), then time the one operation."""
    channels = _open.channels(MemorySettings(path=path, embedding=kind))
    lines = export.read_text(encoding="utf-8").splitlines()
    if mode == "import":
        return timed_import(lines, channels, path, len(lines) - 1)
    parsed = read_export(lines)
    vectors = np.ascontiguousarray(parsed.vectors[channels[0].name])
    metadatas = [record_metadata(f) for f in parsed.findings]
    return raw_chroma_add(path, vectors, metadatas, light=mode == "raw-light")


def cli_import(kind: Kind, export: Path, root: Path) -> float:
    """`aar memory import FILE` into a new store, process start to exit: median of 3."""
    runs = []
    for r in range(3):
        env = {**os.environ, "AAR_MEMORY_PATH": str(root / str(r)), "AAR_MEMORY__EMBEDDING": kind}
        env.pop("AAR_MEMORY_URL", None)
        t = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "aar"), "memory", "import", str(export), "--no-reembed"],
            env=env,
            capture_output=True,
            timeout=600,
        )
        runs.append(time.perf_counter() - t)
        assert done.returncode == 0, done.stderr
    return statistics.median(runs)


def timed_import(lines: list[str], channels: list, path: Path, n: int) -> dict:
    """One import into a fresh store re-using the vectors: seconds, and seconds in chromadb."""
    target = make_store(path, channels)
    target.count()  # connect first: opening chromadb is not part of the import
    in_chromadb = [0.0]
    add = _collection.Writer.add

    def timed_add(self: _collection.Writer, **kwargs: object) -> None:
        t = time.perf_counter()
        add(self, **kwargs)
        in_chromadb[0] += time.perf_counter() - t

    _collection.Writer.add = timed_add  # type: ignore[method-assign]
    try:
        t = time.perf_counter()
        result = target.import_jsonl(lines, reembed=False)
        import_s = time.perf_counter() - t
    finally:
        _collection.Writer.add = add  # type: ignore[method-assign]
    assert result.added == n and result.embedded == 0
    return {"s": import_s, "chromadb_s": in_chromadb[0]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(BIN / "chroma"),
        "run",
        "--path",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).close()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma server did not start")


def cli_e2e(env: dict[str, str]) -> dict:
    def timed(args: list[str], ok: int = 0) -> float:
        runs = []
        for _ in range(6):
            t = time.perf_counter()
            done = subprocess.run(args, env=env, capture_output=True, timeout=120)
            runs.append(time.perf_counter() - t)
            assert done.returncode == ok, done.stderr
        return statistics.median(runs[1:])  # the first run warms the page cache

    aar = str(BIN / "aar")
    return {
        "aar_memory_query_s": timed(
            [aar, "memory", "query", "early stopping on weak labels", "-k", "10"]
        ),
        "aar_memory_usage_error_s": timed([aar, "memory", "list", "-n", "-1"], ok=2),
        "aar_help_s": timed([aar, "--help"]),
    }


def run_embedder(kind: Kind, args: argparse.Namespace, root: Path) -> dict:
    settings = Settings(memory=MemorySettings(path=root / f"{kind}-local", embedding=kind))
    channels = _open.channels(settings.memory)
    syn = synthetic(args.n, labelled()[0])
    add_n = min(
        args.add_n if args.add_n is not None else (2000 if kind == "static" else 300), args.n
    )
    t = time.perf_counter()
    vectors = fill_vectors(channels, syn, args.pool)
    res: dict = {"channels": [e.name for e in channels], "fill_vectors_s": time.perf_counter() - t}
    local = open_store(settings)
    res["add_many_per_s"] = fill(local, syn, add_n, vectors)
    res["added_through_add_many"] = add_n
    res["local"] = latency(local)
    res["transfer"] = transfer(local, kind, root, args.n)
    proc, url = start_server(root / f"{kind}-server")
    try:
        server = open_store(Settings(memory=MemorySettings(url=url, embedding=kind)))
        fill(server, syn, 0, vectors)
        server.search("warm the index", k=1)  # the first search builds this client's index
        res["server"] = latency(server)
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
    return res


def verdicts(results: dict, kinds: list[str]) -> list[str]:
    default = DEFAULT
    lines = []
    for name, ok in [
        (
            "issue set recall@5 >= 0.9 (default)",
            results["retrieval"]["issue"][default]["recall_at5"] >= 0.9,
        ),
        (
            "held-out recall@5 >= 0.75 (default)",
            results["retrieval"]["heldout"][default]["recall_at5"] >= 0.75,
        ),
    ]:
        lines.append(f"{'PASS' if ok else 'MISS'}  {name}")
    for kind in kinds:
        r = results[kind]
        for name, ok in [
            ("local query p50 <= 30 ms", r["local"]["query_p50_ms"] <= 30),
            ("server query p50 <= 30 ms", r["server"]["query_p50_ms"] <= 30),
            ("import re-using vectors >= 2,000/s", r["transfer"]["import_per_s"] >= 2000),
            ("aar memory query end to end < 1.5 s", r["cli"]["aar_memory_query_s"] < 1.5),
            ("usage error < 1 s", r["cli"]["aar_memory_usage_error_s"] < 1.0),
        ]:
            lines.append(f"{'PASS' if ok else 'MISS'}  {kind:<7} {name}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="findings in the latency store")
    parser.add_argument("--add-n", type=int, default=None, help="findings added via add_many")
    parser.add_argument("--pool", type=int, default=300, help="distinct texts for the fill")
    parser.add_argument(
        "--embedding", nargs="+", choices=["minilm", "static"], default=["minilm", "static"]
    )
    parser.add_argument(
        "--retrieval-only", action="store_true", help="recall only (no latency or import)"
    )
    parser.add_argument(
        "--blind-test",
        action="store_true",
        help="the default's recall@5 on the blind *_test sets only (run once, at the end)",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "EXPORT", "STORE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, export, store = args.child
        print(json.dumps(run_child(mode, args.embedding[0], Path(export), Path(store))))
        return
    results: dict = {
        "n": args.n,
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="aar-bench-memory-") as tmp:
        root = Path(tmp)
        if args.blind_test:  # the aggregate only: no per-query output to tune on
            print(json.dumps(retrieval(root, TEST_SETS, full=False), indent=2))
            return
        results["retrieval"] = retrieval(root, SETS)
        if args.retrieval_only:
            print(json.dumps(results, indent=2, default=lambda x: round(x, 4)))
            return
        for kind in args.embedding:
            results[kind] = run_embedder(kind, args, root)
            results[f"load_avg_1m_after_{kind}"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2, default=lambda x: round(x, 4)))
    print("\n".join(verdicts(results, args.embedding)))


if __name__ == "__main__":
    main()
