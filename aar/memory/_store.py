"""`FindingsStore`: findings in one chromadb collection, local directory or Chroma server.

Embeddings are computed here (offline models, `_embed.py`) and passed to chromadb, whose
own embedding function is never set, so it can never download anything. Every structured field
is stored as metadata for filters, and the whole finding as JSON, so `get` and `export_jsonl`
return exactly what was added.

Local mode and several processes: writes are serialised by a file lock next to the data.
chromadb's local mode keeps its vector index in memory, so a long-lived process does not see
vectors other processes add later in `search` (it does in `get`/`list`). The CLI opens the store
per command, which is fine; teams with several concurrent writers should use server mode.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from filelock import FileLock
from pydantic import BaseModel, Field, ValidationError

from aar.memory._embed import MINILM_MODEL_NAME, STATIC_MODEL_NAME, Embedder, load_embedder
from aar.memory._errors import (
    CorruptStoreError,
    DuplicateFindingIdError,
    EmbeddingMismatchError,
    FindingNotFoundError,
    ForeignStoreError,
    ImportConflictError,
    InvalidFindingError,
    InvalidQueryError,
    MemoryServerError,
)
from aar.memory._finding import SCHEMA_VERSION, Finding, ReviewStatus, Verdict

if TYPE_CHECKING:
    from aar.config import Settings

COLLECTION = "aar_findings"
LOCK_NAME = ".aar-memory.lock"
_IGNORED_ENTRIES = {"README.md", ".gitignore", ".gitkeep", LOCK_NAME}
_PAGE = 2000
_DEDUP_CANDIDATES = 8
_OVERFETCH = 10  # extra search results fetched so linked duplicates can be dropped
_FILTER_PROBE = 2  # filtered search first scans (k + _OVERFETCH) * this unfiltered neighbours


class FindingFilter(BaseModel):
    """Metadata filters; all given ones must hold. Duplicates are hidden unless asked for."""

    task: str | None = None
    verdict: Verdict | None = None
    status: ReviewStatus | None = None
    session_id: str | None = None
    tag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_duplicates: bool = False

    def where(self, *, duplicates: bool | None = None) -> dict[str, Any] | None:
        """The chromadb `where` clause; `duplicates=True` leaves the duplicate test out.

        A clause matching almost every record (`duplicate_of == ""`) makes chromadb's
        filtered search slow (~130 ms at 10,000 findings), so `search` drops duplicates
        after the query instead and only falls back to this clause when it must.
        """
        if duplicates is None:
            duplicates = self.include_duplicates
        clauses: list[dict[str, Any]] = []
        if self.task:
            clauses.append({f"task:{self.task}": True})
        if self.tag:
            clauses.append({f"tag:{self.tag}": True})
        for key, value in (
            ("verdict", self.verdict),
            ("status", self.status),
            ("session_id", self.session_id),
        ):
            if value is not None:
                clauses.append({key: value})
        if self.since is not None:
            clauses.append({"created_ts": {"$gte": _timestamp(self.since)}})
        if self.until is not None:
            clauses.append({"created_ts": {"$lt": _timestamp(self.until)}})
        if not duplicates:
            clauses.append({"duplicate_of": ""})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, finding: Finding) -> bool:
        """The same test as `where()`, in Python, on a finding already fetched."""
        created = _timestamp(finding.created_at)
        return (
            (self.task is None or self.task in finding.tasks)
            and (self.tag is None or self.tag in finding.tags)
            and (self.verdict is None or finding.verdict == self.verdict)
            and (self.status is None or finding.review.status == self.status)
            and (self.session_id is None or finding.session_id == self.session_id)
            and (self.since is None or created >= _timestamp(self.since))
            and (self.until is None or created < _timestamp(self.until))
            and (self.include_duplicates or not finding.duplicate_of)
        )


class SearchHit(BaseModel):
    """A finding and its cosine similarity to the query (1 = same direction)."""

    finding: Finding
    score: float


class AddResult(BaseModel):
    """What `add` did: stored as new, or stored and linked to an earlier near-duplicate."""

    id: str
    duplicate_of: str | None = None
    similarity: float | None = None


class ImportResult(BaseModel):
    added: int
    skipped_identical: int


class StoreStats(BaseModel):
    location: str
    mode: Literal["local", "server"]
    embedding_model: str
    embedding_dim: int
    findings: int
    duplicates: int
    by_verdict: dict[str, int] = Field(default_factory=dict)
    by_status: dict[str, int] = Field(default_factory=dict)
    by_task: dict[str, int] = Field(default_factory=dict)


def _timestamp(when: datetime) -> float:
    if when.tzinfo is None:
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _metadata(finding: Finding) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "finding_json": finding.model_dump_json(),
        "schema_version": finding.schema_version,
        "session_id": finding.session_id,
        "round": finding.round,
        "verdict": finding.verdict,
        "status": finding.review.status,
        "method_key": finding.method_key,
        "created_ts": _timestamp(finding.created_at),
        "pgr_acc_mean": finding.metrics.pgr_acc_mean,
        "duplicate_of": finding.duplicate_of or "",
    }
    meta.update({f"task:{task}": True for task in finding.tasks})
    meta.update({f"tag:{tag}": True for tag in finding.tags})
    return meta


def _finding(meta: dict[str, Any]) -> Finding:
    return Finding.model_validate_json(meta["finding_json"])


def check_local_dir(path: Path) -> bool:
    """True if `path` already holds a chromadb store; raise if it holds anything foreign.

    An absent or empty directory (a README or .gitignore aside) is a new store.
    """
    if path.exists() and not path.is_dir():
        raise ForeignStoreError(f"memory path {path} is a file, not a store directory")
    if not path.exists():
        return False
    entries = {entry.name for entry in path.iterdir()} - _IGNORED_ENTRIES
    if not entries:
        return False
    sqlite = path / "chroma.sqlite3"
    if not sqlite.is_file():
        raise ForeignStoreError(
            f"{path} is not an aar findings store (it holds files chromadb did not write, "
            f"e.g. {sorted(entries)[0]!r}); refusing to use it. Point AAR_MEMORY_PATH elsewhere"
        )
    with sqlite.open("rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise CorruptStoreError(f"{sqlite} is not a SQLite database: the store is corrupt")
    return True


class FindingsStore:
    """The typed API the CLI and research sessions use; one instance per open store."""

    def __init__(
        self,
        connect: Callable[[], Any],
        embedder: Embedder,
        *,
        location: str,
        mode: Literal["local", "server"],
        lock_path: Path | None,
        dedup_threshold: float = 0.95,
        allow_other_collections: bool = False,
    ) -> None:
        self._connect = connect
        self._client = connect()
        self._embedder = embedder
        self.location = location
        self.mode = mode
        self.dedup_threshold = dedup_threshold
        self._lock = FileLock(str(lock_path), timeout=120) if lock_path else None
        self._collection = self._open_collection(allow_other_collections)
        self._known_count = self._collection.count()

    # -- opening -------------------------------------------------------------------------
    def _open_collection(self, allow_other_collections: bool) -> Any:
        try:
            names = [getattr(c, "name", c) for c in self._client.list_collections()]
        except Exception as exc:
            raise self._access_error(exc) from exc
        expected = {
            "aar_schema": SCHEMA_VERSION,
            "embedding_model": self._embedder.name,
            "embedding_dim": self._embedder.dim,
        }
        if COLLECTION not in names:
            if names and not allow_other_collections:
                raise ForeignStoreError(
                    f"{self.location} is a chromadb store of something else (collections: "
                    f"{', '.join(sorted(names)[:5])}); refusing to add aar's findings to it"
                )
            with self._locked():
                return self._client.get_or_create_collection(
                    COLLECTION,
                    metadata=expected,
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
        try:
            collection = self._client.get_collection(COLLECTION, embedding_function=None)
        except Exception as exc:
            raise self._access_error(exc) from exc
        meta = collection.metadata or {}
        if "aar_schema" not in meta or "embedding_model" not in meta:
            raise ForeignStoreError(
                f"collection {COLLECTION!r} in {self.location} was not written by aar"
            )
        if (meta["embedding_model"], meta.get("embedding_dim")) != (
            self._embedder.name,
            self._embedder.dim,
        ):
            kind = {MINILM_MODEL_NAME: "minilm", STATIC_MODEL_NAME: "static"}.get(
                meta["embedding_model"]
            )
            fix = (
                f"set memory.embedding = '{kind}' (AAR_MEMORY__EMBEDDING={kind}) to use it"
                if kind
                else "export it with the aar that wrote it and import into a new store"
            )
            raise EmbeddingMismatchError(
                f"store {self.location} was built with embedding model "
                f"{meta['embedding_model']} (dim {meta.get('embedding_dim')}), but this aar "
                f"embeds with {self._embedder.name} (dim {self._embedder.dim}); {fix}"
            )
        return collection

    def _access_error(self, exc: Exception) -> Exception:
        if self.mode == "server":
            return MemoryServerError(f"Chroma server {self.location} failed: {exc}")
        return CorruptStoreError(f"cannot read the store at {self.location}: {exc}")

    def _fresh(self) -> None:
        """Local mode: reload the vector index if another process wrote since we last looked.

        chromadb keeps a local store's index in memory per process and path; vectors other
        processes add are visible to `get`/`count` but not to `query` (filtered queries even
        fail) until the cached system is dropped and the client reopened.
        """
        if self.mode != "local":
            return
        count = self._collection.count()
        if count == self._known_count:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(getattr(self._client, "_identifier", ""), None)
        self._client = self._connect()
        self._collection = self._client.get_collection(COLLECTION, embedding_function=None)
        self._known_count = count

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock is None:
            yield
        else:
            with self._lock:
                yield

    # -- writing -------------------------------------------------------------------------
    def add(self, finding: Finding, *, require_eval_records: bool = False) -> AddResult:
        """Store one finding; a near-duplicate for the same task(s) and method is linked."""
        return self.add_many([finding], require_eval_records=require_eval_records)[0]

    def add_many(
        self, findings: list[Finding], *, require_eval_records: bool = False
    ) -> list[AddResult]:
        """Store findings atomically: all are checked before anything is written."""
        if not findings:
            return []
        problems = []
        seen: set[str] = set()
        for n, finding in enumerate(findings, 1):
            if finding.id in seen:
                problems.append(f"record {n}: id {finding.id} appears twice in the input")
            seen.add(finding.id)
            if require_eval_records and not finding.eval_record_ids:
                problems.append(f"record {n}: eval_record_ids is empty (numbers need records)")
        if problems:
            raise InvalidFindingError(problems)
        vectors = self._embedder.embed([f.embedding_text() for f in findings])
        with self._locked():
            self._fresh()
            existing = self._collection.get(ids=[f.id for f in findings], include=[])["ids"]
            if existing:
                raise DuplicateFindingIdError(
                    f"finding id(s) already stored: {', '.join(sorted(existing)[:5])}"
                )
            results = self._link_duplicates(findings, vectors)
            stored = [
                f.model_copy(update={"duplicate_of": r.duplicate_of}) if r.duplicate_of else f
                for f, r in zip(findings, results, strict=True)
            ]
            self._write(stored, vectors)
        return results

    def _link_duplicates(self, findings: list[Finding], vectors: Any) -> list[AddResult]:
        """Link each finding to its most similar earlier one with the same task(s) and method.

        One chromadb query for the whole batch (nearest stored originals, distances only);
        only candidates above the threshold are fetched and compared on task and method. If
        every candidate is above the threshold yet none matches (a crowded neighbourhood),
        an exact query restricted to that task and method decides. Earlier findings of the
        same batch count too.
        """
        import numpy as np

        results = [AddResult(id=f.id) for f in findings]
        todo = [i for i, f in enumerate(findings) if f.duplicate_of is None]
        stored = self._collection.count()
        best: dict[int, tuple[str, float]] = {}
        if todo and stored:
            k = min(_DEDUP_CANDIDATES, stored)
            hits = self._collection.query(
                query_embeddings=vectors[todo],
                n_results=k,
                include=["distances"],
            )
            close = {
                i: [(cid, 1.0 - d) for cid, d in zip(ids, dists, strict=True)]
                for i, ids, dists in zip(todo, hits["ids"], hits["distances"], strict=True)
            }
            close = {i: [c for c in cs if c[1] >= self.dedup_threshold] for i, cs in close.items()}
            wanted = sorted({cid for cs in close.values() for cid, _ in cs})
            keys: dict[str, tuple[frozenset[str], str, str]] = {}
            for start in range(0, len(wanted), _PAGE):
                got = self._collection.get(ids=wanted[start : start + _PAGE], include=["metadatas"])
                for cid, meta in zip(got["ids"], got["metadatas"], strict=True):
                    tasks = frozenset(key[5:] for key in meta if key.startswith("task:"))
                    keys[cid] = (tasks, meta["method_key"], meta["duplicate_of"])
            for i, cands in close.items():
                f = findings[i]
                match = [
                    (cid, sim)
                    for cid, sim in cands
                    if set(f.tasks) <= keys[cid][0]
                    and keys[cid][1] == f.method_key
                    and not keys[cid][2]
                ]
                if match:
                    best[i] = max(match, key=lambda c: c[1])
                elif len(cands) == k:
                    exact = self._exact_duplicate(f, vectors[i])
                    if exact:
                        best[i] = exact
        originals: dict[tuple[frozenset[str], str], list[int]] = {}
        for i in todo:
            f = findings[i]
            group = originals.setdefault((frozenset(f.tasks), f.method_key), [])
            if group:
                sims = vectors[group] @ vectors[i]
                j = int(np.argmax(sims))
                if sims[j] >= self.dedup_threshold and sims[j] > best.get(i, ("", -1.0))[1]:
                    best[i] = (findings[group[j]].id, float(sims[j]))
            if i in best:
                dup_id, sim = best[i]
                results[i] = AddResult(id=f.id, duplicate_of=dup_id, similarity=round(sim, 6))
            else:
                group.append(i)
        return results

    def _exact_duplicate(self, finding: Finding, vector: Any) -> tuple[str, float] | None:
        clauses: list[dict[str, Any]] = [{f"task:{t}": True} for t in finding.tasks]
        clauses += [{"method_key": finding.method_key}, {"duplicate_of": ""}]
        hits = self._collection.query(
            query_embeddings=vector[None, :],
            n_results=1,
            where={"$and": clauses},
            include=["distances"],
        )
        if hits["ids"][0] and 1.0 - hits["distances"][0][0] >= self.dedup_threshold:
            return hits["ids"][0][0], 1.0 - hits["distances"][0][0]
        return None

    def _write(self, findings: list[Finding], vectors: Any) -> None:
        self._known_count += len(findings)
        for start in range(0, len(findings), _PAGE):
            chunk = findings[start : start + _PAGE]
            self._collection.add(
                ids=[f.id for f in chunk],
                embeddings=vectors[start : start + _PAGE],
                documents=[f.embedding_text() for f in chunk],
                metadatas=[_metadata(f) for f in chunk],
            )

    # -- reading -------------------------------------------------------------------------
    def search(
        self, text: str, filters: FindingFilter | None = None, k: int = 10
    ) -> list[SearchHit]:
        """The `k` findings closest in meaning to `text` among those matching `filters`."""
        if not text.strip():
            raise InvalidQueryError("the query text is empty")
        if not 1 <= k <= 1000:
            raise InvalidQueryError(f"k must be between 1 and 1000, got {k}")
        vector = self._embedder.embed([text]).tolist()
        filters = filters or FindingFilter()
        self._fresh()
        where = filters.where(duplicates=True)
        if where is not None:
            # chromadb's filtered search costs ~10 ms plus ~10 ms per 1,000 findings a
            # clause matches (35-50 ms for a task or verdict at 10,000 findings). First scan
            # the nearest unfiltered neighbours and filter them here: the first k that match
            # are exactly the filtered top k. Only if too few match ask chromadb to filter.
            probe = min(self._known_count, (k + _OVERFETCH) * _FILTER_PROBE)
            if probe:
                seen = self._query(vector, probe, None)
                kept = [h for h in seen if filters.matches(h.finding)]
                if len(kept) >= k or len(seen) < probe:
                    return kept[:k]
        # Over-fetch without the duplicate clause and drop linked duplicates here; only if
        # too few originals remain among a full page ask chromadb with the clause.
        n = k if filters.include_duplicates else k + _OVERFETCH
        hits = self._query(vector, n, where)
        if not filters.include_duplicates:
            originals = [h for h in hits if not h.finding.duplicate_of]
            if len(originals) < k and len(hits) == n:
                originals = self._query(vector, k, filters.where())
            hits = originals
        return hits[:k]

    def _query(
        self, vector: list[list[float]], n: int, where: dict[str, Any] | None
    ) -> list[SearchHit]:
        res = self._collection.query(
            query_embeddings=vector, n_results=n, where=where, include=["metadatas", "distances"]
        )
        return [
            SearchHit(finding=_finding(meta), score=round(1.0 - dist, 6))
            for meta, dist in zip(res["metadatas"][0], res["distances"][0], strict=True)
        ]

    def get(self, finding_id: str) -> Finding:
        res = self._collection.get(ids=[finding_id], include=["metadatas"])
        if not res["ids"]:
            raise FindingNotFoundError(f"no finding with id {finding_id!r} in {self.location}")
        return _finding(res["metadatas"][0])

    def duplicates_of(self, finding_id: str) -> list[Finding]:
        """Findings linked to `finding_id` as near-duplicates, oldest first."""
        return self._all({"duplicate_of": finding_id})

    def list(self, filters: FindingFilter | None = None, limit: int | None = None) -> list[Finding]:
        """Matching findings, newest first."""
        found = self._all((filters or FindingFilter()).where())
        found.reverse()
        return found[:limit] if limit is not None else found

    def _all(self, where: dict[str, Any] | None) -> list[Finding]:
        out: list[Finding] = []
        offset = 0
        while True:
            res = self._collection.get(
                where=where, include=["metadatas"], limit=_PAGE, offset=offset
            )
            out.extend(_finding(meta) for meta in res["metadatas"])
            if len(res["ids"]) < _PAGE:
                break
            offset += _PAGE
        out.sort(key=lambda f: (f.created_at, f.id))
        return out

    def count(self) -> int:
        return int(self._collection.count())

    def stats(self) -> StoreStats:
        findings = self._all(None)
        dups = [f for f in findings if f.duplicate_of]
        unique = [f for f in findings if not f.duplicate_of]
        return StoreStats(
            location=self.location,
            mode=self.mode,
            embedding_model=self._embedder.name,
            embedding_dim=self._embedder.dim,
            findings=len(findings),
            duplicates=len(dups),
            by_verdict=dict(Counter(f.verdict for f in unique).most_common()),
            by_status=dict(Counter(f.review.status for f in unique).most_common()),
            by_task=dict(Counter(t for f in unique for t in f.tasks).most_common()),
        )

    # -- export / import -----------------------------------------------------------------
    def export_jsonl(self, out: IO[str]) -> int:
        """Every finding (duplicates included), oldest first, one JSON object a line."""
        findings = self._all(None)
        for finding in findings:
            out.write(finding.model_dump_json() + "\n")
        return len(findings)

    def import_jsonl(self, lines: Iterable[str]) -> ImportResult:
        """Restore exported findings exactly (ids, links, review): all or nothing.

        An id already stored with identical content is skipped; with other content it is an
        `ImportConflictError` and nothing is written.
        """
        findings = parse_jsonl(lines)
        if not findings:
            return ImportResult(added=0, skipped_identical=0)
        with self._locked():
            self._fresh()
            stored: dict[str, Finding] = {}
            ids = [f.id for f in findings]
            for start in range(0, len(ids), _PAGE):
                res = self._collection.get(ids=ids[start : start + _PAGE], include=["metadatas"])
                stored.update(
                    (i, _finding(m)) for i, m in zip(res["ids"], res["metadatas"], strict=True)
                )
            conflicts = [f.id for f in findings if f.id in stored and stored[f.id] != f]
            if conflicts:
                raise ImportConflictError(
                    f"{len(conflicts)} imported id(s) exist with different content, nothing "
                    f"imported: {', '.join(conflicts[:5])}"
                )
            new = [f for f in findings if f.id not in stored]
            if new:
                self._write(new, self._embedder.embed([f.embedding_text() for f in new]))
        return ImportResult(added=len(new), skipped_identical=len(findings) - len(new))


def parse_findings(records: list[Any], what: str = "record") -> list[Finding]:
    """Validate raw JSON values; every problem becomes one line of an `InvalidFindingError`."""
    findings: list[Finding] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, raw in enumerate(records, 1):
        if not isinstance(raw, dict):
            problems.append(f"{what} {n}: expected a JSON object, got {type(raw).__name__}")
            continue
        try:
            finding = Finding.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(part) for part in err["loc"]) or "(record)"
                if where == "tasks" and err["type"] == "missing":
                    where = "task"
                problems.append(f"{what} {n}: {where}: {err['msg']}")
            continue
        if finding.id in seen:
            problems.append(f"{what} {n}: id {finding.id} appears twice in the input")
        seen.add(finding.id)
        findings.append(finding)
    if problems:
        raise InvalidFindingError(problems)
    return findings


def parse_jsonl(lines: Iterable[str]) -> list[Finding]:
    """Parse a JSONL export; a bad line is reported with its line number."""
    records: list[Any] = []
    problems: list[str] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not JSON ({exc.msg})")
            records.append(None)
    if problems:
        raise InvalidFindingError(problems)
    return parse_findings(records, what="line")


def open_store(settings: Settings, *, embedder: Embedder | None = None) -> FindingsStore:
    """Open (or create) the store named by `settings.memory`: server if `url`, else `path`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    mem = settings.memory
    emb = embedder or load_embedder(mem.embedding, Path(mem.cache_dir))
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if mem.url:
        url = urlparse(mem.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise MemoryServerError(f"memory.url must look like http://HOST:PORT, got {mem.url!r}")
        host, port = url.hostname, url.port or (443 if url.scheme == "https" else 8000)

        def connect_server() -> Any:
            try:
                return chromadb.HttpClient(
                    host=host, port=port, ssl=url.scheme == "https", settings=chroma_settings
                )
            except Exception as exc:
                raise MemoryServerError(
                    f"cannot reach the Chroma server at {mem.url}: {exc}"
                ) from exc

        return FindingsStore(
            connect_server,
            emb,
            location=mem.url,
            mode="server",
            lock_path=None,
            dedup_threshold=mem.dedup_threshold,
            allow_other_collections=True,
        )
    path = Path(mem.path)
    check_local_dir(path)
    path.mkdir(parents=True, exist_ok=True)

    def connect_local() -> Any:
        try:
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as exc:
            raise CorruptStoreError(f"cannot open the store at {path}: {exc}") from exc

    return FindingsStore(
        connect_local,
        emb,
        location=str(path),
        mode="local",
        lock_path=path / LOCK_NAME,
        dedup_threshold=mem.dedup_threshold,
    )
