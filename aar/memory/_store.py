"""`FindingsStore`: findings in one chromadb collection (local directory or Chroma server),
searched through aar's own index (`_index.py`).

chromadb is the store of record: every finding and its primary vector are written there, and
`get`, `list`, `stats` and `export` read from it. Search and duplicate detection run on the
derived index, which is updated in the same critical section as chromadb and carries the
collection's generation token (`aar_generation` in the collection metadata, a fresh random value
after every write). An index whose token, count or configuration does not match the collection is
re-synchronised from chromadb before it is used; aar never queries chromadb's own vector index,
whose per-process cache misses other processes' writes.

One writer rule: writes to a local store are serialised by a file lock in its directory, so any
number of aar processes may share it; every write must go through aar (a chromadb client that
writes the directory directly bypasses the lock and the index, and is only noticed at the next
open that connects to chromadb). Teams with writers on several machines use server mode.

Reads tolerate bad records (`_records.py`): a record that no longer validates is skipped and
named in `bad_records`; `repair` lists, saves and drops them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from filelock import FileLock, Timeout

from aar.memory._embed import MINILM_MODEL_NAME, STATIC_MODEL_NAME, Embedder
from aar.memory._errors import (
    CorruptStoreError,
    DamagedRecordError,
    DuplicateFindingIdError,
    EmbeddingMismatchError,
    FindingNotFoundError,
    ForeignStoreError,
    ImportConflictError,
    InvalidFindingError,
    InvalidQueryError,
    MemoryServerError,
)
from aar.memory._finding import SCHEMA_VERSION, Finding, Review, ReviewStatus
from aar.memory._glossary import load_glossary
from aar.memory._index import SearchIndex
from aar.memory._models import (
    AddResult,
    FindingFilter,
    ImportResult,
    RepairResult,
    SearchHit,
    StoreStats,
)
from aar.memory._records import BadRecord, decode_record, metadata_of, record_metadata
from aar.memory._transfer import ParsedExport, gc_paused, read_export, write_export

if TYPE_CHECKING:
    import numpy as np

COLLECTION = "aar_findings"
LOCK_NAME = ".aar-memory.lock"
GENERATION_KEY = "aar_generation"
_PAGE = 2000


def _new_token() -> str:
    return secrets.token_hex(8)


class FindingsStore:
    """The typed API the CLI and research sessions use; one instance per open store.

    chromadb is connected lazily: a local store whose index is trusted answers `search` without
    importing chromadb at all (`connect=False`), which keeps `aar memory query` fast.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        embedders: Sequence[Embedder],
        *,
        location: str,
        mode: Literal["local", "server"],
        cache_dir: Path,
        index_path: Path | None = None,
        lock_path: Path | None = None,
        dedup_threshold: float = 0.95,
        allow_other_collections: bool = False,
        connect_now: bool = True,
        store_file: Path | None = None,
    ) -> None:
        self._connect = connect
        self._channels = tuple(embedders)
        self._embedder = self._channels[0]
        self.location = location
        self.mode = mode
        self.dedup_threshold = dedup_threshold
        self._cache_dir = Path(cache_dir)
        self._allow_other = allow_other_collections
        self._lock = FileLock(str(lock_path), timeout=120) if lock_path else None
        self._client: Any = None
        self._collection: Any = None
        self._index: SearchIndex | None = None
        self.bad_records: dict[str, BadRecord] = {}
        self._connect_now = connect_now
        self._checked = False  # has the index been compared with chromadb since opening?
        self._store_file = store_file
        if index_path is not None:
            self._index = self._open_index(index_path)
        if connect_now or not self._trusted_alone():
            self._col()

    # -- opening -------------------------------------------------------------------------
    def _open_index(self, path: Path) -> SearchIndex:
        """The index at `path`; an unreadable one is derived data, so it is rebuilt."""
        glossary = load_glossary()
        vectors = [glossary.vectors(e, self._cache_dir) for e in self._channels]
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return SearchIndex(path, self._channels, glossary, vectors)
        except CorruptStoreError:
            for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
                (path.parent / name).unlink(missing_ok=True)
            return SearchIndex(path, self._channels, glossary, vectors)

    def _col(self) -> Any:
        """The chromadb collection, connecting (and checking the index) on first use."""
        if self._collection is None:
            self._client = self._connect()
            self._collection = self._open_collection()
            if self._index is None:  # server mode: one index per server and collection
                key = _server_key(self.location, str(self._collection.id))
                self._index = self._open_index(self._cache_dir / "server-index" / f"{key}.sqlite3")
            self._ensure_current()
        return self._collection

    def _open_collection(self) -> Any:
        try:
            names = [getattr(c, "name", c) for c in self._client.list_collections()]
        except Exception as exc:
            raise self._access_error(exc) from exc
        if COLLECTION not in names:
            if names and not self._allow_other:
                raise ForeignStoreError(
                    f"{self.location} is a chromadb store of something else (collections: "
                    f"{', '.join(sorted(names)[:5])}); refusing to add aar's findings to it"
                )
            with self._locked():
                return self._client.get_or_create_collection(
                    COLLECTION,
                    metadata={
                        "aar_schema": SCHEMA_VERSION,
                        "embedding_model": self._embedder.name,
                        "embedding_dim": self._embedder.dim,
                        GENERATION_KEY: _new_token(),
                    },
                    schema=_collection_schema(),
                    embedding_function=None,
                )
        try:
            collection = self._client.get_collection(COLLECTION, embedding_function=None)
        except Exception as exc:
            raise self._access_error(exc) from exc
        self._check_collection(collection.metadata or {})
        return collection

    def _check_collection(self, meta: dict[str, Any]) -> None:
        if "aar_schema" not in meta or "embedding_model" not in meta:
            raise ForeignStoreError(
                f"collection {COLLECTION!r} in {self.location} was not written by aar"
            )
        found = (meta["embedding_model"], meta.get("embedding_dim"))
        if found == (self._embedder.name, self._embedder.dim):
            return
        kind = {MINILM_MODEL_NAME: "minilm", STATIC_MODEL_NAME: "static"}.get(found[0])
        fix = (
            f"set memory.embedding = '{kind}' (AAR_MEMORY__EMBEDDING={kind}) to use it"
            if kind
            else "export it with the aar that wrote it and import into a new store"
        )
        raise EmbeddingMismatchError(
            f"store {self.location} was built with embedding model {found[0]} (dim {found[1]}), "
            f"but this aar embeds with {self._embedder.name} (dim {self._embedder.dim}); {fix}"
        )

    def _access_error(self, exc: Exception) -> Exception:
        if self.mode == "server":
            return MemoryServerError(f"Chroma server {self.location} failed: {exc}")
        return CorruptStoreError(f"cannot read the store at {self.location}: {exc}")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        try:
            self._lock.acquire()
        except Timeout:
            raise CorruptStoreError(
                f"the store {self.location} has been locked by another process for 120 s"
            ) from None
        except OSError as exc:  # the lock file cannot be opened (e.g. replaced by a directory)
            raise CorruptStoreError(
                f"cannot lock the store {self.location}: {exc.strerror} ({self._lock.lock_file})"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    # -- keeping the index current -----------------------------------------------------------
    def _stamp(self) -> str:
        """Identity, size and modification time of chromadb's file (local mode): any write to
        it, aar's or another tool's (or damage), changes the stamp."""
        if self._store_file is None:
            return ""
        try:
            st = os.stat(self._store_file)
        except OSError:
            return "missing"
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"

    def _trusted_alone(self) -> bool:
        """May the index answer without opening chromadb? Only a clean index whose recorded
        stamp of chromadb's file is still the file's: a store file changed or damaged since
        (by anything but aar's own writes, which re-stamp) is opened and checked first, so a
        corrupt store is refused by `query` as it is by `stats`."""
        index = self._index
        return (
            index is not None
            and index.trusted()
            and self._store_file is not None
            and index.store_stamp() == self._stamp()
        )

    def _restamp(self) -> None:
        if self.mode == "local" and self._store_file is not None and self._index is not None:
            self._index.set_store_stamp(self._stamp())

    def _token(self) -> str:
        """The collection's generation token as the store has it now (a fresh read)."""
        try:
            meta = self._client.get_collection(COLLECTION, embedding_function=None).metadata or {}
        except Exception as exc:
            raise self._access_error(exc) from exc
        return str(meta.get(GENERATION_KEY, ""))

    def _ensure_current(self) -> None:
        """Use the index only if it provably matches the store; otherwise re-synchronise.

        Local: a clean index whose token was checked against chromadb when this store
        connected is trusted (every aar write updates both under the lock, so other aar
        processes' writes reach it through the shared file); a mid-write, foreign-config or
        never-checked index is compared with chromadb first. Server: other clients write
        there too, so the server's token is read before every search.
        """
        index = self._require_index()
        if self.mode == "local" and index.trusted() and self._checked:
            return
        if self.mode == "local" and not self._connect_now and self._trusted_alone():
            return
        self._col()
        with self._locked():
            state = index.state()
            token = self._token()
            current = index.trusted() and state.generation == token
            if current and not self._checked:  # once per open: also catch writes that
                # bypassed aar (they change the count, not the token)
                current = state.count + len(index.bad_records()) == self._collection.count()
            if not current:
                self._sync(token)
            self._restamp()
        self._checked = True

    def _require_index(self) -> SearchIndex:
        if self._index is None:
            self._col()
        assert self._index is not None
        return self._index

    def _sync(self, token: str) -> None:
        """Bring the index in line with chromadb: new, changed and removed records, bad ones
        named. Vectors are fetched only for records the index lacks."""
        index = self._require_index()
        if not token:  # a store written before generation tokens: give it one
            token = self._set_token()
        stored = index.stored_config()
        if stored is not None and stored != json.loads(index.config):
            index.apply(generation="", delete=list(index.known()))  # model or glossary changed
        known = index.known()
        findings, bad = self._records()
        remote = {f.id: f for f in findings}
        new = [f for f in findings if f.id not in known]
        changed = [f for f in findings if f.id in known and known[f.id] != f.model_dump_json()]
        vectors = self._vectors_from_store([f.id for f in new])
        upsert = [(f, self._channel_vectors(f, vectors[f.id])) for f in new]
        gone = [fid for fid in known if fid not in remote]
        index.apply(
            generation=token,
            upsert=upsert,
            update=changed,
            delete=gone,
            bad=[(b.id, b.problem) for b in bad],
        )

    def _vectors_from_store(self, ids: list[str]) -> dict[str, Any]:
        import numpy as np

        out: dict[str, Any] = {}
        for start in range(0, len(ids), _PAGE):
            got = self._collection.get(ids=ids[start : start + _PAGE], include=["embeddings"])
            for fid, vec in zip(got["ids"], got["embeddings"], strict=True):
                out[fid] = np.asarray(vec, dtype=np.float32)
        return out

    def _channel_vectors(self, finding: Finding, primary: Any) -> list[Any]:
        """The primary vector (from the store) and the other channels' (computed, fast)."""
        text = [finding.embedding_text()]
        return [primary, *(e.embed(text)[0] for e in self._channels[1:])]

    def _set_token(self) -> str:
        token = _new_token()
        meta = dict(self._client.get_collection(COLLECTION, embedding_function=None).metadata)
        self._collection.modify(metadata={**meta, GENERATION_KEY: token})
        return token

    @contextlib.contextmanager
    def _writing(self) -> Iterator[_Writer]:
        """The critical section of every write: the lock and a current index. Changes to
        chromadb go through the yielded `_Writer`, which first marks the index mid-write (a
        crash then leaves it untrusted); `_commit` gives the store a new token and applies the
        same changes to the index."""
        with self._locked():
            self._ensure_current()
            yield _Writer(self._collection, self._require_index() if self.mode == "local" else None)

    def _commit(self, **changes: Any) -> None:
        token = self._set_token()
        # A server's other clients may have written between our writes and this token, so a
        # server index claims no token and is re-checked before the next search.
        self._require_index().apply(generation=token if self.mode == "local" else "", **changes)
        self._restamp()

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
        _check_batch(findings, require_eval_records)
        texts = [f.embedding_text() for f in findings]
        vectors = [e.embed(texts) for e in self._channels]
        with self._writing() as col:
            existing = col.get(ids=[f.id for f in findings], include=[])["ids"]
            if existing:
                raise DuplicateFindingIdError(
                    f"finding id(s) already stored: {', '.join(sorted(existing)[:5])}"
                )
            self._check_links(findings)
            results = self._link_duplicates(findings, vectors[0])
            stored = [
                f.model_copy(update={"duplicate_of": r.duplicate_of}) if r.duplicate_of else f
                for f, r in zip(findings, results, strict=True)
            ]
            self._write(col, stored, vectors)
        return results

    def _check_links(self, findings: Sequence[Finding]) -> None:
        """A given `duplicate_of` must name a finding stored or earlier in the same input."""
        batch = {f.id for f in findings}
        targets = sorted({f.duplicate_of for f in findings if f.duplicate_of} - batch)
        found = set(self._col().get(ids=targets, include=[])["ids"]) if targets else set()
        problems = [
            f"{f.id}: duplicate_of {f.duplicate_of!r} is not a stored finding"
            for f in findings
            if (f.duplicate_of and f.duplicate_of not in batch | found) or f.duplicate_of == f.id
        ]
        if problems:
            raise InvalidFindingError(problems)

    def _link_duplicates(self, findings: list[Finding], vectors: np.ndarray) -> list[AddResult]:
        """Link each new finding to its most similar earlier original with the same task(s)
        and method (stored or earlier in the batch), if at least `dedup_threshold` similar."""
        import numpy as np

        index = self._require_index()
        results = [AddResult(id=f.id, duplicate_of=f.duplicate_of) for f in findings]
        originals: dict[tuple[frozenset[str], str], list[int]] = {}
        for i, f in enumerate(findings):
            if f.duplicate_of is not None:
                continue
            best = index.nearest_original(f, vectors[i]) or ("", -1.0)
            group = originals.setdefault((frozenset(f.tasks), f.method_key), [])
            if group:
                sims = vectors[group] @ vectors[i]
                j = int(np.argmax(sims))
                if sims[j] > best[1]:
                    best = (findings[group[j]].id, float(sims[j]))
            if best[1] >= self.dedup_threshold:
                results[i] = AddResult(id=f.id, duplicate_of=best[0], similarity=round(best[1], 6))
            else:
                group.append(i)
        return results

    def _index_sha(self) -> str:
        return self._require_index().glossary.sha256

    def _write(
        self,
        col: _Writer,
        findings: list[Finding],
        vectors: Sequence[Any],
        families: Sequence[list[str]] = (),
    ) -> None:
        """chromadb first (the store of record), then the index; all or nothing: a failure (or
        Ctrl-C) part-way deletes the pages already added. Building the index rows in a thread
        beside chromadb's add measured no faster (its add holds the GIL), so it is not done."""
        rows = self._require_index().rows(findings, vectors, families)  # (id, json, ...)
        added: list[str] = []
        try:
            for start in range(0, len(findings), _PAGE):
                page = rows[start : start + _PAGE]
                ids = [row[0] for row in page]
                col.add(
                    ids=ids,
                    embeddings=vectors[0][start : start + _PAGE],
                    metadatas=[metadata_of(row[1]) for row in page],
                )
                added.extend(ids)
        except BaseException:
            if added:  # the index stays marked mid-write, so it is re-checked before next use
                col.delete(ids=added)
            raise
        self._commit(rows=rows)

    def update_review(
        self,
        finding_id: str,
        *,
        status: ReviewStatus,
        reviewer: str | None = None,
        comment: str | None = None,
    ) -> Finding:
        """Record a reviewer's decision (it replaces the previous one) and return the finding.

        Sets `review.reviewed_at` to now; `--status` filters see the new status at once.
        """
        from pydantic import ValidationError

        try:
            review = Review(
                status=status, reviewer=reviewer, comment=comment, reviewed_at=datetime.now(UTC)
            )
        except ValidationError as exc:
            raise InvalidFindingError([f"review: {e['msg']}" for e in exc.errors()]) from None
        with self._writing() as col:
            updated = self._get(col, finding_id).model_copy(update={"review": review})
            col.update(ids=[finding_id], metadatas=[record_metadata(updated)])
            self._commit(update=[updated])
        return updated

    def delete(self, finding_id: str) -> list[str]:
        """Remove one finding (a damaged record too); returns the ids relinked because they
        were its near-duplicates (the oldest becomes the original, the rest link to it)."""
        with self._writing() as col:
            if not col.get(ids=[finding_id], include=[])["ids"]:
                raise FindingNotFoundError(f"no finding with id {finding_id!r} in {self.location}")
            relinked = self._relink([finding_id])
            col.delete(ids=[finding_id])
            self._store_updates(col, relinked)
            self._commit(update=relinked, delete=[finding_id])
        self.bad_records.pop(finding_id, None)
        return [f.id for f in relinked]

    def _relink(self, removed: Sequence[str]) -> list[Finding]:
        """New links for the duplicates of findings about to be removed."""
        gone = set(removed)
        dups: dict[str, list[Finding]] = {}
        for f in self._records()[0]:
            if f.duplicate_of in gone and f.id not in gone:
                dups.setdefault(f.duplicate_of, []).append(f)
        out: list[Finding] = []
        for group in dups.values():
            group.sort(key=lambda f: (f.created_at, f.id))
            head = group[0].model_copy(update={"duplicate_of": None})
            out += [head, *(f.model_copy(update={"duplicate_of": head.id}) for f in group[1:])]
        return out

    def _store_updates(self, col: Any, findings: Sequence[Finding]) -> None:
        for start in range(0, len(findings), _PAGE):
            chunk = findings[start : start + _PAGE]
            col.update(ids=[f.id for f in chunk], metadatas=[record_metadata(f) for f in chunk])

    def repair(self, *, drop_bad: bool = False, save_to: Path | None = None) -> RepairResult:
        """Name every unreadable record and rebuild the search index; with `drop_bad`, save the
        bad records' raw metadata to `save_to` (JSON lines) and remove them from the store."""
        with self._writing() as col:
            index = self._require_index()
            index.apply(generation="", delete=list(index.known()))
            self.bad_records = {}
            self._sync(self._token())
            bad = list(self.bad_records.values())
            result = RepairResult(bad=bad)
            if drop_bad and bad:
                ids = [b.id for b in bad]
                if save_to is not None:
                    _save_raw(col, bad, save_to)
                    result.saved_to = str(save_to)
                relinked = self._relink(ids)
                col.delete(ids=ids)
                self._store_updates(col, relinked)
                self._commit(update=relinked, delete=ids, bad=[])
                result.dropped, result.relinked = ids, [f.id for f in relinked]
                for fid in ids:
                    self.bad_records.pop(fid, None)
            result.indexed = index.state().count
        return result

    # -- reading -------------------------------------------------------------------------
    def search(
        self, text: str, filters: FindingFilter | None = None, k: int = 10
    ) -> list[SearchHit]:
        """The `k` findings most relevant to `text` among those matching `filters` (exact)."""
        if not text.strip():
            raise InvalidQueryError("the query text is empty")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidQueryError(
                "the query text is not valid UTF-8 (it holds a stray byte)"
            ) from None
        if not 1 <= k <= 1000:
            raise InvalidQueryError(f"k must be between 1 and 1000, got {k}")
        self._ensure_current()
        index = self._require_index()
        for fid, problem in index.bad_records():
            self.bad_records.setdefault(fid, BadRecord(id=fid, problem=problem))
        queries = [e.embed([text])[0] for e in self._channels]
        hits = index.search(queries, filters or FindingFilter(), k)
        return [SearchHit(finding=f, score=s, similarity=sim) for f, s, sim in hits]

    def get(self, finding_id: str) -> Finding:
        return self._get(self._col(), finding_id)

    def _get(self, col: Any, finding_id: str) -> Finding:
        res = col.get(ids=[finding_id], include=["metadatas"])
        if not res["ids"]:
            raise FindingNotFoundError(f"no finding with id {finding_id!r} in {self.location}")
        found = decode_record(finding_id, res["metadatas"][0])
        if isinstance(found, BadRecord):
            self.bad_records[found.id] = found
            raise DamagedRecordError(
                f"finding {finding_id} is damaged ({found.problem}); remove it with "
                f"`aar memory delete {finding_id}` or `aar memory repair --drop-bad`"
            )
        return found

    def duplicates_of(self, finding_id: str) -> list[Finding]:
        """Findings linked to `finding_id` as near-duplicates, oldest first."""
        return [f for f in self._all() if f.duplicate_of == finding_id]

    def list(self, filters: FindingFilter | None = None, limit: int | None = None) -> list[Finding]:
        """Matching findings, newest first."""
        if limit is not None and limit < 0:
            raise InvalidQueryError(f"the limit must be 0 or more, got {limit}")
        filters = filters or FindingFilter()
        found = [f for f in self._all() if filters.matches(f)]
        found.reverse()
        return found[:limit] if limit is not None else found

    def _records(self) -> tuple[list[Finding], list[BadRecord]]:
        """Every stored record, decoded one by one: readable findings and bad records."""
        col = self._col()
        findings: list[Finding] = []
        bad: list[BadRecord] = []
        offset = 0
        while True:
            res = col.get(include=["metadatas"], limit=_PAGE, offset=offset)
            for fid, meta in zip(res["ids"], res["metadatas"], strict=True):
                record = decode_record(fid, meta)
                (bad if isinstance(record, BadRecord) else findings).append(record)
            if len(res["ids"]) < _PAGE:
                break
            offset += _PAGE
        for b in bad:
            self.bad_records[b.id] = b
        findings.sort(key=lambda f: (f.created_at, f.id))
        return findings, bad

    def _all(self) -> list[Finding]:
        return self._records()[0]

    def count(self) -> int:
        return int(self._col().count())

    def stats(self) -> StoreStats:
        findings, bad = self._records()
        unique = [f for f in findings if not f.duplicate_of]
        return StoreStats(
            location=self.location,
            mode=self.mode,
            embedding_model=self._embedder.name,
            embedding_dim=self._embedder.dim,
            findings=len(findings),
            duplicates=len(findings) - len(unique),
            bad_records=len(bad),
            by_verdict=dict(Counter(f.verdict for f in unique).most_common()),
            by_status=dict(Counter(f.review.status for f in unique).most_common()),
            by_task=dict(Counter(t for f in unique for t in f.tasks).most_common()),
        )

    # -- export / import -----------------------------------------------------------------
    def export_jsonl(self, out: IO[str]) -> int:
        """Every readable finding (duplicates included) with its vectors, oldest first."""
        self._ensure_current()
        findings = self._all()
        index = self._require_index()
        rows = index.vectors_of([f.id for f in findings])
        missing = [f.id for f in findings if f.id not in rows]
        if missing:  # the index was re-synchronised above, so this is a bug or a race
            raise CorruptStoreError(f"the search index lacks vectors for {', '.join(missing[:5])}")
        items = [(f, *rows[f.id]) for f in findings]
        return write_export(out, self._channels, items, index.glossary.sha256)

    def import_jsonl(self, lines: Iterable[str], *, reembed: bool = True) -> ImportResult:
        """Restore exported findings exactly (ids, links, review, vectors): all or nothing.

        Vectors in the file are re-used for every embedder of this store they were made with;
        the others are computed, unless `reembed` is False (then a mismatch is an error). An id
        already stored with identical content is skipped; with other content it is an
        `ImportConflictError` and nothing is written.
        """
        return self.import_export(read_export(lines), reembed=reembed)

    def import_export(self, parsed: ParsedExport, *, reembed: bool = True) -> ImportResult:
        """`import_jsonl` for a file already parsed (and so validated) by `read_export`."""
        if not parsed.findings:
            return ImportResult(added=0, skipped_identical=0)
        reuse = self._reusable(parsed.vectors, parsed.header is not None, reembed)
        findings, was = _as_pending(parsed.findings)
        with self._writing() as col, gc_paused():
            stored = self._stored(col, [f.id for f in findings])
            conflicts = [
                f.id for f in findings if f.id in stored and not _same_content(stored[f.id], f)
            ]
            if conflicts:
                raise ImportConflictError(
                    f"{len(conflicts)} imported id(s) exist with different content, nothing "
                    f"imported: {', '.join(conflicts[:5])}"
                )
            new_at = [i for i, f in enumerate(findings) if f.id not in stored]
            new = [findings[i] for i in new_at]
            self._check_links(new)
            vectors = self._import_vectors(new, new_at, parsed.vectors, reuse)
            same_glossary = parsed.header and parsed.header.glossary == self._index_sha()
            families = (
                [parsed.families[i] for i in new_at] if same_glossary and parsed.families else []
            )
            if new:
                self._write(col, new, vectors, families)
        return ImportResult(
            added=len(new),
            skipped_identical=len(findings) - len(new),
            reviews_reset=dict(Counter(was[i] for i in new_at if i in was)),
            vectors_reused=len(new) if new and reuse[0] else 0,
            embedded=len(new) if new and not reuse[0] else 0,
        )

    def _reusable(self, carried: dict[str, Any], has_header: bool, reembed: bool) -> list[bool]:
        """Per channel: does the file carry vectors of exactly this embedder?"""
        reuse = [e.name in carried for e in self._channels]
        if not reembed and not all(reuse):
            what = (
                f"vectors of {', '.join(carried) or 'no embedder'}"
                if has_header
                else "no vectors (plain findings)"
            )
            need = ", ".join(e.name for e in self._channels)
            raise EmbeddingMismatchError(
                f"the file carries {what}, but this store needs {need}; "
                "import without --no-reembed to embed the findings again"
            )
        return reuse

    def _import_vectors(
        self,
        new: list[Finding],
        new_at: list[int],
        carried: dict[str, Any],
        reuse: list[bool],
    ) -> list[Any]:
        texts = [f.embedding_text() for f in new]
        out = []
        for e, ok in zip(self._channels, reuse, strict=True):
            if ok:
                out.append(carried[e.name][new_at])  # a matrix: one row per finding of the file
            else:
                out.append(e.embed(texts))
        return out

    def _stored(self, col: Any, ids: list[str]) -> dict[str, Finding]:
        stored: dict[str, Finding] = {}
        for start in range(0, len(ids), _PAGE):
            res = col.get(ids=ids[start : start + _PAGE], include=["metadatas"])
            for fid, meta in zip(res["ids"], res["metadatas"], strict=True):
                record = decode_record(fid, meta)
                if isinstance(record, BadRecord):
                    raise ImportConflictError(
                        f"stored record {fid} is damaged ({record.problem}); run "
                        "`aar memory repair --drop-bad` before importing it again"
                    )
                stored[fid] = record
        return stored


def _as_pending(findings: list[Finding]) -> tuple[list[Finding], dict[int, str]]:
    """Imported findings with every review decision turned back into `pending`, and the
    status each reset one carried (by position).

    Only the review gate sets a review status, and it records each decision in this
    installation's audit log. A decision in a file (a colleague's export, or a hand-edited
    line) has no audit record here and its HMAC chain is another installation's, so it cannot
    be verified: it is kept as information in the comment, never as a status."""
    out: list[Finding] = []
    was: dict[int, str] = {}
    for i, finding in enumerate(findings):
        review = finding.review
        if review.status == "pending" and review.reviewer is None and review.reviewed_at is None:
            out.append(finding)
            continue
        was[i] = review.status
        when = f" on {review.reviewed_at.date().isoformat()}" if review.reviewed_at else ""
        said = f" ({review.comment[:300]})" if review.comment else ""
        note = (
            f"imported with an unverified earlier decision: {review.status} by "
            f"{review.reviewer or 'an unnamed reviewer'}{when}{said}"
        )
        out.append(finding.model_copy(update={"review": Review(comment=note)}))
    return out, was


def _same_content(stored: Finding, imported: Finding) -> bool:
    """The same finding apart from its review (the stored review is this installation's)."""
    return stored.model_copy(update={"review": imported.review}) == imported


class _Writer:
    """chromadb's write calls; the first one marks the local index mid-write."""

    def __init__(self, collection: Any, index: SearchIndex | None) -> None:
        self._collection = collection
        self._index = index

    def mark(self) -> None:
        if self._index is not None:
            self._index.begin_write()
            self._index = None

    def get(self, **kwargs: Any) -> Any:
        return self._collection.get(**kwargs)

    def add(self, **kwargs: Any) -> None:
        self.mark()
        self._collection.add(**kwargs)

    def update(self, **kwargs: Any) -> None:
        self.mark()
        self._collection.update(**kwargs)

    def delete(self, **kwargs: Any) -> None:
        self.mark()
        self._collection.delete(**kwargs)


def _collection_schema() -> Any:
    """Cosine vectors without chromadb's (downloading) embedder, and no inverted indexes on
    aar's metadata keys: aar never filters in chromadb, and indexing each finding's JSON made
    adds ~35% slower (10,000 findings: 1,516/s with the index, 2,072/s without)."""
    from chromadb import Schema, StringInvertedIndexConfig, VectorIndexConfig

    schema = Schema()
    schema.create_index(config=VectorIndexConfig(space="cosine", embedding_function=None))
    schema.delete_index(config=StringInvertedIndexConfig(), key="finding_json")
    return schema


def _check_batch(findings: list[Finding], require_eval_records: bool) -> None:
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


def _save_raw(col: Any, bad: Sequence[BadRecord], path: Path) -> None:
    """Write the bad records as stored (metadata as JSON) before they are dropped."""
    res = col.get(ids=[b.id for b in bad], include=["metadatas", "documents"])
    problems = {b.id: b.problem for b in bad}
    with path.open("x", encoding="utf-8") as out:
        for fid, meta, doc in zip(res["ids"], res["metadatas"], res["documents"], strict=True):
            record = {"id": fid, "problem": problems[fid], "metadata": meta, "document": doc}
            out.write(json.dumps(record, default=str) + "\n")


def _server_key(url: str, collection_id: str) -> str:
    import hashlib

    return hashlib.sha256(f"{url}|{collection_id}".encode()).hexdigest()[:16]
