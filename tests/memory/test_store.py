"""`FindingsStore` against real chromadb, local directory and Chroma server alike."""

from __future__ import annotations

import io
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from memory_support import labelled_findings, local_settings, minimal

from aar.memory import (
    CorruptStoreError,
    DuplicateFindingIdError,
    EmbeddingMismatchError,
    Finding,
    FindingFilter,
    FindingNotFoundError,
    FindingsStore,
    ForeignStoreError,
    ImportConflictError,
    InvalidFindingError,
    InvalidQueryError,
    open_store,
)


def make(**overrides: object) -> Finding:
    return Finding.model_validate(minimal(**overrides))


@pytest.fixture
def filled(store: FindingsStore) -> FindingsStore:
    store.add_many(labelled_findings())
    return store


def test_add_get_exact(store: FindingsStore) -> None:
    finding = make(tags=["loss"], eval_record_ids=["ev-1", "ev-2"], git_commit="abc123")
    result = store.add(finding)
    assert result.id == finding.id and result.duplicate_of is None
    assert store.get(finding.id) == finding
    assert store.count() == 1


def test_get_missing(store: FindingsStore) -> None:
    with pytest.raises(FindingNotFoundError, match="f-nope"):
        store.get("f-nope")


def test_duplicate_id_is_refused_and_nothing_written(store: FindingsStore) -> None:
    first = make()
    store.add(first)
    with pytest.raises(DuplicateFindingIdError):
        store.add_many([make(summary="another thing entirely"), first])
    assert store.count() == 1


def test_require_eval_records(store: FindingsStore) -> None:
    with pytest.raises(InvalidFindingError, match="eval_record_ids"):
        store.add(make(), require_eval_records=True)
    store.add(make(eval_record_ids=["ev-9"]), require_eval_records=True)


def test_search_ranks_by_meaning(filled: FindingsStore) -> None:
    hits = filled.search("mixup interpolation of inputs and soft labels", k=3)
    assert hits[0].finding.id == "f56"
    assert hits[0].score > hits[1].score >= hits[2].score
    assert all(-1.0 <= h.similarity <= 1.0 for h in hits)


def test_search_filters(filled: FindingsStore) -> None:
    text = "auxiliary confidence loss"
    by_task = filled.search(text, FindingFilter(task="news_topic"), k=50)
    assert by_task and all("news_topic" in h.finding.tasks for h in by_task)
    assert len(by_task) == 11
    refuted = filled.search(text, FindingFilter(verdict="refuted", task="sentiment"), k=50)
    assert {h.finding.id for h in refuted} == {"f50"}
    approved = filled.search(text, FindingFilter(status="approved"), k=50)
    assert len(approved) == 14 and all(h.finding.review.status == "approved" for h in approved)
    session = filled.search(text, FindingFilter(session_id="s-2026-11-01-alpha"), k=50)
    assert {h.finding.id for h in session} == {"f01", "f05"}
    tagged = filled.search(text, FindingFilter(tag="leakage"), k=50)
    assert {h.finding.id for h in tagged} == {"f33", "f34"}
    since = datetime(2026, 11, 12, tzinfo=UTC)
    recent = filled.search(text, FindingFilter(since=since), k=100)
    assert recent and all(h.finding.created_at >= since for h in recent)
    assert len(recent) == sum(f.created_at >= since for f in labelled_findings())


def test_search_bad_input(store: FindingsStore) -> None:
    with pytest.raises(InvalidQueryError, match="empty"):
        store.search("   ")
    with pytest.raises(InvalidQueryError, match="k must"):
        store.search("x", k=0)


def test_list_newest_first_with_filters(filled: FindingsStore) -> None:
    everything = filled.list_findings()
    assert len(everything) == 57
    assert everything[0].created_at >= everything[-1].created_at
    assert [f.id for f in filled.list_findings(FindingFilter(task="wine"))] == ["f35", "f15", "f08"]
    assert len(filled.list_findings(limit=5)) == 5


def test_near_duplicate_is_linked_not_added(store: FindingsStore) -> None:
    original = make(summary="The confidence loss raised PGR on sentiment from 0.31 to 0.46.")
    store.add(original)
    again = make(summary="The confidence loss raised PGR on sentiment from 0.31 to 0.47.")
    result = store.add(again)
    assert result.duplicate_of == original.id and result.similarity >= 0.95
    assert store.get(again.id).duplicate_of == original.id
    assert [h.finding.id for h in store.search("confidence loss sentiment", k=10)] == [original.id]
    with_dups = store.search("confidence loss", FindingFilter(include_duplicates=True), k=10)
    assert {h.finding.id for h in with_dups} == {original.id, again.id}
    assert [d.id for d in store.duplicates_of(original.id)] == [again.id]
    # same text, other task or other method: not a duplicate
    assert store.add(make(summary=again.summary, task="news_topic")).duplicate_of is None
    assert store.add(make(summary=again.summary, method="bootstrap")).duplicate_of is None
    stats = store.stats()
    assert (stats.findings, stats.duplicates) == (4, 1)


def test_near_duplicates_within_one_batch(store: FindingsStore) -> None:
    a = make(summary="Early stopping on weak labels improved PGR by 0.05.")
    b = make(summary="Early stopping on weak labels improved PGR by 0.06.")
    results = store.add_many([a, b])
    assert results[0].duplicate_of is None and results[1].duplicate_of == a.id


def test_dedup_threshold_is_configurable(tmp_path: Path, embedder) -> None:
    strict = open_store(local_settings(tmp_path / "s", dedup_threshold=1.0), embedder=embedder)
    strict.add(make(summary="PGR rose to 0.46."))
    assert strict.add(make(summary="PGR rose to 0.47.")).duplicate_of is None
    loose = open_store(local_settings(tmp_path / "l", dedup_threshold=0.0), embedder=embedder)
    loose.add(make(summary="PGR rose to 0.46."))
    assert loose.add(make(summary="Completely unrelated words here.")).duplicate_of is not None


def test_export_import_round_trip_exact(filled: FindingsStore, tmp_path: Path, embedder) -> None:
    filled.add(make(summary=labelled_findings()[0].summary, method="logconf", task="sentiment"))
    out = io.StringIO()
    assert filled.export_jsonl(out) == 58
    text = out.getvalue()
    target = open_store(local_settings(tmp_path / "copy"), embedder=embedder)
    result = target.import_jsonl(text.splitlines())
    assert (result.added, result.skipped_identical) == (58, 0)
    originals = filled.list_findings(FindingFilter(include_duplicates=True))
    decided = Counter(f.review.status for f in originals if f.review.status != "pending")
    assert result.reviews_reset == dict(decided) and decided  # the file has decisions
    for original in originals:
        copy = target.get(original.id)
        assert copy.model_dump(exclude={"review"}) == original.model_dump(exclude={"review"})
        if original.review.status == "pending":
            assert copy.review == original.review
        else:  # only this installation's review gate sets a status; the decision is a note
            assert copy.review.status == "pending" and copy.review.reviewer is None
            assert f"unverified earlier decision: {original.review.status}" in (
                copy.review.comment or ""
            )
    # importing the same file again changes nothing; a store of pending findings round-trips
    # byte for byte
    assert target.import_jsonl(text.splitlines()).skipped_identical == 58
    assert target.count() == 58
    again = io.StringIO()
    target.export_jsonl(again)
    third = open_store(local_settings(tmp_path / "third"), embedder=embedder)
    assert third.import_jsonl(again.getvalue().splitlines()).reviews_reset == {}
    once_more = io.StringIO()
    third.export_jsonl(once_more)
    assert once_more.getvalue() == again.getvalue()


def test_import_conflict_and_bad_lines_write_nothing(store: FindingsStore) -> None:
    stored = make()
    store.add(stored)
    changed = stored.model_copy(update={"verdict": "refuted"})
    fresh = make(summary="something new")
    with pytest.raises(ImportConflictError, match=stored.id):
        store.import_jsonl([fresh.model_dump_json(), changed.model_dump_json()])
    with pytest.raises(InvalidFindingError) as info:
        store.import_jsonl([fresh.model_dump_json(), "{not json", '{"id": "x"}'])
    assert "line 2: not JSON" in str(info.value)
    assert store.count() == 1


def test_stats(filled: FindingsStore) -> None:
    stats = filled.stats()
    assert stats.findings == 57 and stats.duplicates == 0
    assert stats.by_verdict == {"supported": 32, "inconclusive": 13, "refuted": 12}
    assert stats.by_task["sentiment"] == 22
    assert stats.embedding_dim == 384


# -- local directory safety -----------------------------------------------------------------


def test_foreign_directory_is_refused_and_untouched(tmp_path: Path, embedder) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ForeignStoreError, match="not an aar findings store"):
        open_store(local_settings(foreign), embedder=embedder)
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    file_path = tmp_path / "afile"
    file_path.write_text("x")
    with pytest.raises(ForeignStoreError, match="is a file"):
        open_store(local_settings(file_path), embedder=embedder)


def test_readme_only_directory_is_a_new_store(tmp_path: Path, embedder) -> None:
    (tmp_path / "README.md").write_text("store lives here")
    store = open_store(local_settings(tmp_path), embedder=embedder)
    store.add(make())
    assert (tmp_path / "README.md").read_text() == "store lives here"


def test_corrupt_store(tmp_path: Path, embedder) -> None:
    path = tmp_path / "broken"
    path.mkdir()
    (path / "chroma.sqlite3").write_bytes(b"garbage, not sqlite" * 10)
    with pytest.raises(CorruptStoreError, match="corrupt"):
        open_store(local_settings(path), embedder=embedder)
    assert (path / "chroma.sqlite3").read_bytes() == b"garbage, not sqlite" * 10


def test_other_chroma_store_is_foreign(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path = tmp_path / "other"
    client = chromadb.PersistentClient(
        str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.create_collection("papers", embedding_function=None)
    del client
    with pytest.raises(ForeignStoreError, match="papers"):
        open_store(local_settings(path), embedder=_Fake(384, "x"))


def test_truncated_sqlite_is_corrupt(tmp_path: Path, embedder) -> None:
    path = tmp_path / "trunc"
    open_store(local_settings(path), embedder=embedder).add(make())
    db = path / "chroma.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE collections")
    with pytest.raises(CorruptStoreError):
        open_store(local_settings(tmp_path / "trunc"), embedder=_Fake(384, "fresh-process"))


class _Fake:
    """Another embedding model with the given dimension, for the mismatch check."""

    def __init__(self, dim: int, name: str) -> None:
        self.dim, self.name = dim, name

    def embed(self, texts: list[str]):  # type: ignore[no-untyped-def]
        import numpy as np

        return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)


@pytest.mark.parametrize(
    "other", [_Fake(384, "another-model"), _Fake(128, "all-MiniLM-L6-v2-onnx-int8-v1")]
)
def test_embedding_model_mismatch(store: FindingsStore, other: _Fake) -> None:
    store.add(make())
    from aar.config import MemorySettings, Settings

    memory = (
        MemorySettings(url=store.location)
        if store.mode == "server"
        else MemorySettings(path=Path(store.location))
    )
    with pytest.raises(
        EmbeddingMismatchError, match="built with embedding model all-MiniLM-L6-v2-onnx-int8-v1"
    ):
        open_store(Settings(memory=memory), embedder=other)


def test_search_skips_many_linked_duplicates(store: FindingsStore) -> None:
    """More linked duplicates than the over-fetch margin: originals still fill k."""
    original = make(summary="Logconf raised PGR on sentiment to 0.40 over five seeds.")
    store.add(original)
    copies = [
        make(summary=f"Logconf raised PGR on sentiment to 0.4{i} over five seeds.")
        for i in range(1, 10)
    ] + [
        make(summary=f"Logconf raised PGR on sentiment to 0.5{i} over five seeds.")
        for i in range(4)
    ]
    results = store.add_many(copies)
    assert all(r.duplicate_of == original.id for r in results)
    other = make(
        summary="Bootstrapping hurt on news topics.", method="bootstrap", task="news_topic"
    )
    store.add(other)
    hits = store.search(original.summary, k=2)
    assert [h.finding.id for h in hits] == [original.id, other.id]
    everything = store.search(original.summary, FindingFilter(include_duplicates=True), k=20)
    assert len(everything) == 15


def test_filtered_search_is_the_filtered_ranking(filled: FindingsStore) -> None:
    """A filtered search returns exactly the unfiltered ranking restricted to the findings the
    filter matches (the index ranks every finding; nothing is approximated)."""
    filled.add_many(
        [make(id=f"dup-{i}", summary=f"{labelled_findings()[0].summary} ") for i in range(3)]
    )
    cases = [
        ("auxiliary confidence loss", FindingFilter(verdict="supported"), 5),
        ("auxiliary confidence loss", FindingFilter(status="approved"), 3),
        ("early stopping on weak labels", FindingFilter(task="sentiment"), 4),
        ("early stopping on weak labels", FindingFilter(task="news_topic", verdict="refuted"), 2),
        ("bigger students", FindingFilter(tag="leakage"), 10),
        ("bigger students", FindingFilter(verdict="supported", include_duplicates=True), 8),
        ("bigger students", FindingFilter(since=datetime(2026, 11, 12, tzinfo=UTC)), 6),
    ]
    for text, f, k in cases:
        got = [(h.finding.id, h.score) for h in filled.search(text, f, k)]
        everything = filled.search(text, FindingFilter(include_duplicates=True), k=1000)
        expected = [(h.finding.id, h.score) for h in everything if f.matches(h.finding)][:k]
        assert got == expected, (text, f)
        assert got
