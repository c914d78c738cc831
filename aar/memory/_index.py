"""aar's search index: a derived SQLite file that answers every search exactly, without chromadb.

chromadb holds the findings and their vectors (the store of record, a local directory or a
server). This index holds a copy of what search needs: each finding's vectors (one per
embedder channel), its method-family tags, the filter fields and its JSON. Why a second copy:

- **Ranking that survives paraphrase** fuses several channels (MiniLM, the static table) with a
  method-family bonus (`_glossary.py`); chromadb can rank by one vector only.
- **No stale answers.** chromadb's local mode keeps a per-process HNSW index that misses other
  processes' vectors, and its only remedy is private. SQLite readers always see committed
  writes, and the index records the collection's generation token, so a copy that no longer
  matches the store is detected and re-synchronised, never served.
- **Speed.** Exact brute force over 10,000 findings is a few milliseconds, filters included, and a
  query needs neither chromadb's import (~1.2 s) nor its client.

Local mode keeps the file in the store directory and writes it under the store's lock, in the
same critical section as chromadb; server mode keeps it in the cache directory and checks the
server's token before every search.

This module owns the SQLite layout and its row format (`_facts` and the side-by-side vector
blob), and loads it into a `Snapshot`; the scoring over a snapshot is `_ranking.py`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from aar.memory._errors import CorruptStoreError
from aar.memory._finding import Finding
from aar.memory._lexical import Postings, terms
from aar.memory._ranking import Ranker, Snapshot, nearest_original

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._embed import Embedder
    from aar.memory._glossary import Glossary
    from aar.memory._models import FindingFilter

INDEX_NAME = "aar-index.sqlite3"
INDEX_FILES = {INDEX_NAME, f"{INDEX_NAME}-wal", f"{INDEX_NAME}-shm", f"{INDEX_NAME}-journal"}
_FORMAT = "3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    finding_json TEXT NOT NULL,
    facts TEXT NOT NULL,  -- JSON: what search filters and ranks on (see _facts)
    vectors BLOB NOT NULL  -- every channel's float32 vector, side by side
);
CREATE TABLE IF NOT EXISTS bad (id TEXT PRIMARY KEY, problem TEXT NOT NULL);
"""


def _words(finding: Finding) -> str:
    """What a finding is tagged and lexically matched on: its text, tags and tasks."""
    return f"{finding.embedding_text()}\n{' '.join(finding.tags)}\n{' '.join(finding.tasks)}"


def _facts(finding: Finding, families: Sequence[str]) -> str:
    """One JSON list per row (one column to read: loading 10,000 rows is ~3x faster than with
    a column per field); the hashed terms of the lexical channel, then the families, last."""
    return json.dumps(
        [
            finding.method_key,
            finding.tasks,
            finding.tags,
            finding.verdict,
            finding.review.status,
            finding.session_id,
            finding.created_at.timestamp(),
            finding.duplicate_of or "",
            [[b, c] for b, c in terms(_words(finding)).items()],
            list(families),
        ]
    )


def _connect(path: Path) -> sqlite3.Connection:
    """The index database; 16 KiB pages (a row's vectors fit in one page: loading 10,000 rows
    measured 46 ms against 134 ms with SQLite's default 4 KiB)."""
    db = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    db.execute("PRAGMA page_size = 16384")  # only takes effect while the file is empty
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # a derived file: a lost last commit is re-synced
    db.executescript(_SCHEMA)
    return db


IndexStateName = Literal["clean", "writing", "new"]


@dataclass(frozen=True)
class IndexState:
    """What the index claims about itself (`generation` "" = not known to match the store)."""

    generation: str
    state: IndexStateName
    config: str
    count: int
    version: int


class SearchIndex:
    """The SQLite file plus an in-memory snapshot that is reloaded when the file changes."""

    def __init__(
        self,
        path: Path,
        channels: Sequence[Embedder],
        glossary: Glossary,
        family_vectors: Sequence[np.ndarray],
    ) -> None:
        self.path = path
        self.channels = tuple(channels)
        self.glossary = glossary
        self.ranker = Ranker(glossary, family_vectors)
        self.config = json.dumps(
            {
                "format": _FORMAT,
                "channels": [[e.name, e.dim] for e in self.channels],
                "glossary": glossary.sha256,
            }
        )
        self._snapshot: Snapshot | None = None
        try:
            self._db = _connect(path)
            columns = [r[1] for r in self._db.execute("PRAGMA table_info(findings)")]
            if "facts" not in columns:  # an index file of an older layout: derived, rebuilt
                self._db.close()
                for name in INDEX_FILES:
                    (path.parent / name).unlink(missing_ok=True)
                self._db = _connect(path)
        except sqlite3.DatabaseError as exc:
            raise CorruptStoreError(f"cannot open the search index {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    # -- state -----------------------------------------------------------------------------
    def state(self) -> IndexState:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        count = self._db.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
        return IndexState(
            generation=meta.get("generation", ""),
            state=cast(IndexStateName, meta.get("state", "new")),  # only this class writes it
            config=meta.get("config", ""),
            count=int(count),
            version=int(meta.get("version", "0")),
        )

    def trusted(self) -> bool:
        """True when the file claims to match a known store generation with today's config."""
        state = self.state()
        return state.state == "clean" and bool(state.generation) and state.config == self.config

    def stored_config(self) -> dict[str, Any] | None:
        raw = self.state().config
        return json.loads(raw) if raw else None

    def store_stamp(self) -> str:
        """The store file's stamp recorded when the index was last known to match it."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'store_stamp'").fetchone()
        return str(row[0]) if row else ""

    def set_store_stamp(self, stamp: str) -> None:
        with _transaction(self._db) as db:
            _set_meta(db, store_stamp=stamp)

    def begin_write(self) -> None:
        """Mark the index as mid-write before the store changes: a crash leaves it untrusted."""
        with _transaction(self._db) as db:
            _set_meta(db, state="writing")

    # -- writing ---------------------------------------------------------------------------
    def rows(
        self,
        findings: Sequence[Finding],
        vectors: Sequence[np.ndarray],
        families: Sequence[list[str]] = (),
    ) -> list[tuple[Any, ...]]:
        """Index rows for findings and their per-channel vector matrices. Family tags are
        computed unless given (an export made under the same glossary carries them; tagging
        costs ~0.2 ms a finding)."""
        known = set(self.glossary.keys)
        tags = (
            [[k for k in fams if k in known] for fams in families]
            if families
            else [self.glossary.tag(_words(f)) for f in findings]
        )
        return [_row(f, [v[i] for v in vectors], tags[i]) for i, f in enumerate(findings)]

    def apply(
        self,
        *,
        generation: str,
        upsert: Sequence[tuple[Finding, Sequence[np.ndarray]]] = (),
        rows: Sequence[tuple[Any, ...]] = (),
        update: Sequence[Finding] = (),
        delete: Sequence[str] = (),
        bad: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """One transaction: add/replace findings with their vectors (`upsert`, or `rows` made
        by `rows()`), rewrite findings whose vectors are unchanged, drop ids; `bad` replaces
        the list of unreadable store records."""
        with _transaction(self._db) as db:
            db.executemany(
                "INSERT OR REPLACE INTO findings (id, finding_json, facts, vectors) "
                "VALUES (?, ?, ?, ?)",
                [*rows, *(_row(f, v, self.glossary.tag(_words(f))) for f, v in upsert)],
            )
            for f in update:  # same text, so the same vectors and families
                old = db.execute("SELECT facts FROM findings WHERE id = ?", (f.id,)).fetchone()
                families = json.loads(old[0])[-1] if old else []
                db.execute(
                    "UPDATE findings SET finding_json = ?, facts = ? WHERE id = ?",
                    (f.model_dump_json(), _facts(f, families), f.id),
                )
            db.executemany("DELETE FROM findings WHERE id = ?", [(i,) for i in delete])
            if bad is not None:
                db.execute("DELETE FROM bad")
                db.executemany("INSERT INTO bad VALUES (?, ?)", list(bad))
            _bump(db, generation, self.config)

    # -- reading ---------------------------------------------------------------------------
    def known(self) -> dict[str, str]:
        """id -> stored finding JSON, for synchronising with the store."""
        return dict(self._db.execute("SELECT id, finding_json FROM findings").fetchall())

    def bad_records(self) -> list[tuple[str, str]]:
        return self._db.execute("SELECT id, problem FROM bad ORDER BY id").fetchall()

    def vectors_of(self, ids: Sequence[str]) -> dict[str, tuple[list[np.ndarray], list[str]]]:
        """id -> (one vector per channel, family keys), for export."""
        import numpy as np

        out: dict[str, tuple[list[np.ndarray], list[str]]] = {}
        dims = [e.dim for e in self.channels]
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT id, vectors, facts FROM findings WHERE id IN ({marks})"
            for fid, blob, facts in self._db.execute(sql, chunk):
                flat = np.frombuffer(blob, dtype="<f4")
                out[fid] = (list(np.split(flat, np.cumsum(dims)[:-1])), json.loads(facts)[-1])
        return out

    def findings(self, rowids: Sequence[int]) -> dict[int, Finding]:
        marks = ", ".join("?" * len(rowids))
        sql = f"SELECT rowid, finding_json FROM findings WHERE rowid IN ({marks})"
        return {
            r: Finding.model_validate_json(raw)
            for r, raw in self._db.execute(sql, [int(r) for r in rowids])
        }

    def snapshot(self) -> Snapshot:
        """The committed index as arrays; reloaded only when another commit happened."""
        version = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        version_n = int(version[0]) if version else 0
        if self._snapshot is None or self._snapshot.version != version_n:
            self._snapshot = _read_snapshot(self._db, self.channels, self.glossary, version_n)
        return self._snapshot

    # -- ranking (`_ranking.py`) -----------------------------------------------------------
    def search(
        self, queries: Sequence[np.ndarray], filters: FindingFilter, k: int, text: str = ""
    ) -> list[tuple[Finding, float, float]]:
        """The top `k` (finding, fused score, primary cosine) among rows matching `filters`
        (`Ranker.top`), read back from the file."""
        for _ in range(_READ_TRIES):
            snap = self.snapshot()
            hits = self.ranker.top(snap, queries, filters, k, text)
            found = self.findings([int(snap.rowids[r]) for r, _, _ in hits]) if hits else {}
            rows = [(found.get(int(snap.rowids[r])), score, sim) for r, score, sim in hits]
            if all(f is not None for f, _, _ in rows):
                break
            # another process committed between the snapshot and this read (a replaced row
            # gets a new rowid): the snapshot's version is stale now, so rank again
        return [(f, score, sim) for f, score, sim in rows if f is not None]

    def nearest_original(self, finding: Finding, vector: np.ndarray) -> tuple[str, float] | None:
        """The stored original most like `finding` (`_ranking.nearest_original`)."""
        return nearest_original(self.snapshot(), finding, vector)


_READ_TRIES = 5
"""Rankings of a search that another process's commits kept invalidating; after these the
rows still found are returned (a server's index is shared by every process of a machine)."""


def _set_meta(db: sqlite3.Connection, **values: str) -> None:
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken at once (IMMEDIATE), so concurrent writers queue on SQLite's
    lock instead of failing mid-way on an upgrade from a read lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _bump(db: sqlite3.Connection, generation: str, config: str) -> None:
    """Mark the index clean at `generation` under `config`, as a new committed version (which
    tells every reader's snapshot to reload)."""
    version = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    _set_meta(
        db,
        generation=generation,
        state="clean",
        config=config,
        version=str(int(version[0]) + 1 if version else 1),
    )


def _row(finding: Finding, vectors: Sequence[np.ndarray], families: list[str]) -> tuple[Any, ...]:
    """One `findings` row: id, JSON, facts and every channel's vector side by side."""
    import numpy as np

    blob = b"".join(np.asarray(v, dtype="<f4").tobytes() for v in vectors)
    return finding.id, finding.model_dump_json(), _facts(finding, families), blob


def _read_snapshot(
    db: sqlite3.Connection, channels: Sequence[Embedder], glossary: Glossary, version: int
) -> Snapshot:
    """The index's rows as arrays (`version`: the commit they belong to)."""
    import numpy as np

    rows = db.execute("SELECT rowid, id, facts, vectors FROM findings ORDER BY rowid").fetchall()
    n, dims = len(rows), [e.dim for e in channels]
    flat = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(n, sum(dims))
    facts = [json.loads(r[2]) for r in rows]
    column = {key: j for j, key in enumerate(glossary.keys)}
    families = np.full((n, len(column)), -np.inf, dtype=np.float32)
    for i, fact in enumerate(facts):
        for key in fact[-1]:
            if key in column:
                families[i, column[key]] = 0.0
    return Snapshot(
        version=version,
        rowids=np.array([r[0] for r in rows], dtype=np.int64),
        ids=[r[1] for r in rows],
        vectors=np.ascontiguousarray(flat),
        primary_dim=dims[0],
        families=families,
        postings=Postings.build([f[8] for f in facts]),
        method_keys=np.array([f[0] for f in facts], dtype=object),
        tasks=[frozenset(f[1]) for f in facts],
        tags=[frozenset(f[2]) for f in facts],
        verdicts=np.array([f[3] for f in facts], dtype=object),
        statuses=np.array([f[4] for f in facts], dtype=object),
        sessions=np.array([f[5] for f in facts], dtype=object),
        created=np.array([f[6] for f in facts], dtype=np.float64),
        duplicate=np.array([bool(f[7]) for f in facts], dtype=bool),
    )
