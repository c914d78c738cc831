"""aar's search index: kept current, stale copies detected and re-synchronised, never served."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from memory_support import labelled_findings, local_settings, minimal

from aar.memory import Finding, FindingFilter, FindingsStore, open_store
from aar.memory._collection import GENERATION_KEY
from aar.memory._index import INDEX_NAME


def make(**overrides: object) -> Finding:
    return Finding.model_validate(minimal(**overrides))


def raw_collection(path: Path):  # type: ignore[no-untyped-def]
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(
        str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    return client.get_collection("aar_findings")


def sneak_in(path: Path, finding: Finding, vector: list[float]) -> None:
    """Write a valid record with chromadb directly, bypassing aar's lock, index and token."""
    from aar.memory._records import record_metadata

    raw_collection(path).add(
        ids=[finding.id], embeddings=[vector], metadatas=[record_metadata(finding)]
    )


def token(path: Path) -> str:
    return raw_collection(path).metadata[GENERATION_KEY]


def test_every_write_changes_the_generation_token(local_store: FindingsStore) -> None:
    path = Path(local_store.location)
    seen = [token(path)]
    first = make(id="f-1")
    local_store.add(first)
    seen.append(token(path))
    local_store.update_review("f-1", status="approved", reviewer="ana")
    seen.append(token(path))
    local_store.delete("f-1")
    seen.append(token(path))
    assert len(set(seen)) == 4


def test_a_write_that_bypassed_aar_is_detected_on_connect(tmp_path: Path, embedder) -> None:
    path = tmp_path / "store"
    store = open_store(local_settings(path), embedder=embedder)
    store.add_many(labelled_findings()[:10])
    stranger = make(id="f-stranger", summary="mixup of digit images lowered PGR")
    sneak_in(path, stranger, embedder.embed([stranger.embedding_text()])[0].tolist())
    # the count no longer matches the index: re-synchronised before the search is answered
    fresh = open_store(local_settings(path), embedder=embedder)
    assert fresh.search("mixup of digit images", k=1)[0].finding.id == "f-stranger"
    # the one-writer rule: writes must go through aar. An open store trusts its index (other
    # aar processes' writes reach it through the shared file); the next store that connects
    # compares the index with chromadb and re-synchronises.
    other = make(id="f-later", summary="label smoothing on tweets did nothing")
    sneak_in(path, other, embedder.embed([other.embedding_text()])[0].tolist())
    again = open_store(local_settings(path), embedder=embedder)
    assert again.search("label smoothing on tweets", k=1)[0].finding.id == "f-later"


def test_a_crashed_write_leaves_the_index_untrusted(tmp_path: Path, embedder) -> None:
    path = tmp_path / "store"
    store = open_store(local_settings(path), embedder=embedder)
    store.add(make(id="f-first"))
    # a writer that died between marking the index and finishing: index says "writing"
    store._sync.index().begin_write()
    late = make(id="f-late", summary="weight decay helped the student on wine")
    sneak_in(path, late, embedder.embed([late.embedding_text()])[0].tolist())
    lazy = open_store(local_settings(path), embedder=embedder, connect=False)
    assert lazy.search("weight decay on wine", k=1)[0].finding.id == "f-late"
    assert lazy._sync.index().trusted()


def test_writes_of_another_store_object_are_seen(tmp_path: Path, embedder) -> None:
    path = tmp_path / "store"
    reader = open_store(local_settings(path), embedder=embedder, connect=False)
    assert reader.search("anything at all", k=3) == []
    writer = open_store(local_settings(path), embedder=embedder)
    writer.add(make(id="f-new", summary="curriculum from easy to hard examples"))
    assert [h.finding.id for h in reader.search("curriculum", k=3)] == ["f-new"]
    writer.update_review("f-new", status="rejected")
    assert reader.search("curriculum", FindingFilter(status="rejected"), k=3)


@pytest.mark.parametrize("damage", ["garbage", "config"])
def test_a_damaged_or_outdated_index_is_rebuilt(tmp_path: Path, embedder, damage: str) -> None:
    path = tmp_path / "store"
    store = open_store(local_settings(path), embedder=embedder)
    store.add_many(labelled_findings()[:12])
    expected = [h.finding.id for h in store.search("early stopping on weak labels", k=5)]
    del store
    index = path / INDEX_NAME
    if damage == "garbage":
        for name in (INDEX_NAME, f"{INDEX_NAME}-wal", f"{INDEX_NAME}-shm"):
            (path / name).unlink(missing_ok=True)
        index.write_bytes(b"not a database at all" * 100)
    else:  # an index written with another glossary or other embedders
        import sqlite3

        with sqlite3.connect(index) as db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps({"x": 1}),))
    again = open_store(local_settings(path), embedder=embedder, connect=False)
    assert [h.finding.id for h in again.search("early stopping on weak labels", k=5)] == expected


def test_the_query_path_does_not_import_chromadb(tmp_path: Path) -> None:
    path = tmp_path / "store"
    open_store(local_settings(path)).add_many(labelled_findings()[:5])
    script = textwrap.dedent(
        f"""
        import sys
        from aar.config import MemorySettings, Settings
        from aar.memory import open_store
        store = open_store(Settings(memory=MemorySettings(path={str(path)!r})), connect=False)
        hits = store.search("confidence loss on sentiment", k=3)
        assert len(hits) == 3, hits
        print(sorted(m for m in sys.modules if m.split(".")[0] == "chromadb"))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_store_file_changed_since_the_index_matched_it_is_checked(tmp_path: Path) -> None:
    """The index answers alone only while chromadb's file is as it last matched it (identity,
    size, mtime); a file changed since (another tool, damage) is opened and checked first."""
    import os

    path = tmp_path / "store"
    open_store(local_settings(path)).add_many(labelled_findings()[:3])
    lazy = open_store(local_settings(path), connect=False)
    assert not lazy.connected  # answered from the index alone
    assert lazy.search("confidence loss", k=1)
    sqlite_file = path / "chroma.sqlite3"
    os.utime(sqlite_file, ns=(1, 1))
    touched = open_store(local_settings(path), connect=False)
    assert touched.connected  # opened and compared with chromadb
    assert open_store(local_settings(path), connect=False).connected is False  # re-stamped
    # a corrupt file is then refused as `stats` refuses it: tests/malformed/test_sweep_inputs.py


def test_a_commit_between_ranking_and_reading_rows_is_ranked_again(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's write can replace rows (new rowids) after a search ranked the old
    snapshot and before it reads the rows: the search ranks again instead of failing with a
    KeyError (seen with 12 threads sharing a Chroma server's index)."""
    from aar.memory._index import SearchIndex

    path = tmp_path / "store"
    writer = open_store(local_settings(path), embedder=embedder)
    writer.add(make(id="f-1", summary="curriculum from easy to hard examples"))
    writer.add(make(id="f-2", summary="an unrelated note on tokenisers", method="other"))
    reader = open_store(local_settings(path), embedder=embedder, connect=False)
    assert [h.finding.id for h in reader.search("curriculum", k=1)] == ["f-1"]
    real = SearchIndex.findings
    raced = []

    def racing(self: SearchIndex, rowids):  # type: ignore[no-untyped-def]
        if not raced:  # the first read comes after another writer replaced the row
            raced.append(True)
            writer.delete("f-1")
            writer.add(make(id="f-1", summary="curriculum from easy to hard, rewritten"))
        return real(self, rowids)

    monkeypatch.setattr(SearchIndex, "findings", racing)
    hits = reader.search("curriculum", k=1)
    assert raced and [h.finding.id for h in hits] == ["f-1"]
    assert hits[0].finding.summary == "curriculum from easy to hard, rewritten"
