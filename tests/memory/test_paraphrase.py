"""Retrieval that survives paraphrase no glossary entry was written for (issue 21).

Findings say "conf_filter" or "GCE"; a searcher from another field describes the method in
plain words. The glossary's several descriptions per family, the task descriptions and the
BM25 channel carry such queries to the right findings (real chromadb, real embeddings).
"""

from __future__ import annotations

from memory_support import labelled_findings

from aar.memory import FindingsStore
from aar.memory._glossary import load_glossary
from aar.memory._lexical import Postings, terms


def _top(store: FindingsStore, query: str, k: int = 5) -> list[str]:
    return [h.finding.method for h in store.search(query, k=k)]


def test_families_have_descriptions_in_several_vocabularies() -> None:
    glossary = load_glossary()
    families = [f for f in glossary.families if f.kind == "family"]
    assert sum(len(f.texts) >= 3 for f in families) >= len(families) - 2
    assert {f.kind for f in glossary.families} == {"family", "task"}
    assert len(glossary.owners) == sum(len(f.texts) for f in glossary.families)


def test_plain_language_description_finds_the_family(local_store: FindingsStore) -> None:
    local_store.add_many(labelled_findings())
    # names neither "confidence", "filter" nor "threshold": only what the method does
    methods = _top(local_store, "discard the training points whose teacher label looks doubtful")
    assert "confidence filtering of weak labels" in methods[:3]
    methods = _top(local_store, "a chain of ever larger learners, each one teaching the next")
    assert any("bootstrap" in m for m in methods[:3])


def test_described_data_set_finds_its_task(local_store: FindingsStore) -> None:
    local_store.add_many(labelled_findings())
    hits = local_store.search("results on the grape chemistry table", k=5)
    assert "wine" in hits[0].finding.tasks


def test_bm25_scores_a_shared_rare_word_highest() -> None:
    docs = ["dropout on the student network", "weight decay sweep", "label smoothing of targets"]
    postings = Postings.build([[[b, c] for b, c in terms(d).items()] for d in docs])
    scores = postings.scores("does dropout help", len(docs))
    assert scores.argmax() == 0 and scores[0] > 0 > scores[1]
    assert not postings.scores("entirely unrelated words", len(docs)).any()
