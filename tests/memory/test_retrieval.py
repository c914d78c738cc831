"""Retrieval quality on the hand-labelled set (57 findings, 27 queries): recall@5.

The default MiniLM (ONNX, int8) embedder measures 0.910 here, so the issue's target of
0.9 is asserted as it is. The static option measures ~0.87 (tests/memory/test_embed.py and
tools/bench/bench_memory.py).
"""

from __future__ import annotations

from memory_support import labelled_findings, labelled_queries

from aar.memory import FindingsStore


def recall_at(store: FindingsStore, k: int) -> float:
    queries = labelled_queries()
    total = 0.0
    for q in queries:
        found = {h.finding.id for h in store.search(q["query"], k=k)}
        total += len(found & set(q["relevant"])) / len(q["relevant"])
    return total / len(queries)


def test_labelled_set_is_well_formed() -> None:
    ids = {f.id for f in labelled_findings()}
    queries = labelled_queries()
    assert len(ids) >= 50 and len(queries) >= 20
    for q in queries:
        assert q["relevant"] and set(q["relevant"]) <= ids


def test_recall_at_5(local_store: FindingsStore) -> None:
    local_store.add_many(labelled_findings())
    r5 = recall_at(local_store, 5)
    r10 = recall_at(local_store, 10)
    print(f"recall@5={r5:.3f} recall@10={r10:.3f}")
    assert r5 >= 0.9
    assert r10 >= r5
