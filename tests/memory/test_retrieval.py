"""Retrieval quality on two hand-labelled sets: recall@k of the default embedder.

`tests/memory/data` (57 findings, 27 queries) is the issue's set; `tests/memory/data/heldout`
(70 findings, 37 queries) was written later, blind to the embedders, with most queries
paraphrased away from the findings' words. The default search (MiniLM fused with the static
table, the family and task bonuses of `glossary.toml` with several descriptions per family, and
a small BM25 term) measures recall@5 0.941 and 0.868 on them (MiniLM alone: 0.910 and 0.606;
blind sets in tests/memory/data/blind: tools/bench/bench_memory.py). The held-out set was used
while building the glossary, so it is a development set, not a blind one: its test is a
regression floor under the measured value; the issue's target 0.9 is asserted as is.
"""

from __future__ import annotations

import pytest
from memory_support import HELDOUT, labelled_findings, labelled_queries

from aar.memory import FindingsStore


def recall_at(store: FindingsStore, k: int, subset: str = "") -> float:
    queries = labelled_queries(subset)
    total = 0.0
    for q in queries:
        found = {h.finding.id for h in store.search(q["query"], k=k)}
        total += len(found & set(q["relevant"])) / len(q["relevant"])
    return total / len(queries)


@pytest.mark.parametrize(
    ("subset", "min_findings", "min_queries"), [("", 50, 20), (HELDOUT, 60, 25)]
)
def test_labelled_set_is_well_formed(subset: str, min_findings: int, min_queries: int) -> None:
    ids = {f.id for f in labelled_findings(subset)}
    queries = labelled_queries(subset)
    assert len(ids) >= min_findings and len(queries) >= min_queries
    for q in queries:
        assert q["relevant"] and set(q["relevant"]) <= ids


def test_sets_share_no_ids() -> None:
    assert not {f.id for f in labelled_findings()} & {f.id for f in labelled_findings(HELDOUT)}


@pytest.mark.parametrize(
    ("subset", "min_recall_at_5"),
    [("", 0.9), (HELDOUT, 0.84)],  # the target; a floor under the measured 0.868
)
def test_recall_at_5(local_store: FindingsStore, subset: str, min_recall_at_5: float) -> None:
    local_store.add_many(labelled_findings(subset))
    r5 = recall_at(local_store, 5, subset)
    r10 = recall_at(local_store, 10, subset)
    print(f"{subset or 'issue set'}: recall@5={r5:.3f} recall@10={r10:.3f}")
    assert r5 >= min_recall_at_5
    assert r10 >= r5
