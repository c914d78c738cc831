"""chromadb access for `FindingsStore`: aar's one collection, opened on first use, its
generation token, the writers' lock, and every request split into pages.

chromadb is the store of record: every finding (its JSON in the record's metadata,
`_records.py`) and its primary vector live here. The collection's metadata carries a generation
token (`GENERATION_KEY`, a fresh random value after every write) that aar's search index copies,
so a stale index is detected (`_sync.py`).

One writer rule: writes to a local store are serialised by a file lock in its directory, so any
number of aar processes may share it; every write must go through aar (a chromadb client that
writes the directory directly bypasses the lock and the index, and is only noticed at the next
open that connects to chromadb). Teams with writers on several machines use server mode.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from filelock import FileLock, Timeout

from aar.memory._embed import MINILM_MODEL_NAME, STATIC_MODEL_NAME, Embedder
from aar.memory._errors import (
    CorruptStoreError,
    DamagedRecordError,
    EmbeddingMismatchError,
    FindingNotFoundError,
    ForeignStoreError,
    MemoryServerError,
)
from aar.memory._finding import SCHEMA_VERSION, Finding
from aar.memory._records import BadRecord, decode_record, metadata_of, record_metadata

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._index import SearchIndex

COLLECTION = "aar_findings"
LOCK_NAME = ".aar-memory.lock"
GENERATION_KEY = "aar_generation"
PAGE = 2000
"""Records per chromadb request: bounded requests for any store size (a request names each id
as a SQLite variable, and a server takes one HTTP body per request)."""


def pages(n: int) -> Iterator[slice]:
    """Slices of `PAGE` items covering `n` items: the one way a chromadb request is split."""
    for start in range(0, n, PAGE):
        yield slice(start, start + PAGE)


def new_token() -> str:
    return secrets.token_hex(8)


class ChromaCollection:
    """aar's collection in chromadb (a local directory or a server), connected on first use.

    Reads decode each record on its own: a record that no longer validates is skipped and named
    in `bad_records` (`_records.py`).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        embedder: Embedder,
        *,
        location: str,
        mode: Literal["local", "server"],
        lock_path: Path | None = None,
        allow_other_collections: bool = False,
    ) -> None:
        self._connect = connect
        self._embedder = embedder
        self.location = location
        self.mode = mode
        self._allow_other = allow_other_collections
        self._lock = FileLock(str(lock_path), timeout=120) if lock_path else None
        self._client: Any = None
        self._collection: Any = None
        self.bad_records: dict[str, BadRecord] = {}

    @property
    def connected(self) -> bool:
        """Has chromadb been opened? (`query` on a current local index never opens it.)"""
        return self._collection is not None

    def open(self) -> Any:
        """chromadb's collection object, connecting on first use."""
        if self._collection is None:
            self._client = self._connect()
            self._collection = self._open_collection()
        return self._collection

    def _open_collection(self) -> Any:
        try:
            names = [getattr(c, "name", c) for c in self._client.list_collections()]
        except Exception as exc:
            raise self.access_error(exc) from exc
        if COLLECTION not in names:
            if names and not self._allow_other:
                raise ForeignStoreError(
                    f"{self.location} is a chromadb store of something else (collections: "
                    f"{', '.join(sorted(names)[:5])}); refusing to add aar's findings to it"
                )
            with self.locked():
                return self._client.get_or_create_collection(
                    COLLECTION,
                    metadata={
                        "aar_schema": SCHEMA_VERSION,
                        "embedding_model": self._embedder.name,
                        "embedding_dim": self._embedder.dim,
                        GENERATION_KEY: new_token(),
                    },
                    schema=_collection_schema(),
                    embedding_function=None,
                )
        try:
            collection = self._client.get_collection(COLLECTION, embedding_function=None)
        except Exception as exc:
            raise self.access_error(exc) from exc
        self._check_metadata(collection.metadata or {})
        return collection

    def _check_metadata(self, meta: dict[str, Any]) -> None:
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

    def access_error(self, exc: Exception) -> Exception:
        if self.mode == "server":
            return MemoryServerError(f"Chroma server {self.location} failed: {exc}")
        return CorruptStoreError(f"cannot read the store at {self.location}: {exc}")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The writers' lock of a local store (a server serialises its own writes)."""
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

    # -- the generation token ------------------------------------------------------------
    def _fresh_metadata(self) -> dict[str, Any]:
        """The collection's metadata as the store has it now (not the cached object's)."""
        self.open()
        try:
            found = self._client.get_collection(COLLECTION, embedding_function=None)
        except Exception as exc:
            raise self.access_error(exc) from exc
        return dict(found.metadata or {})

    def token(self) -> str:
        """The collection's generation token as the store has it now (a fresh read)."""
        return str(self._fresh_metadata().get(GENERATION_KEY, ""))

    def set_token(self) -> str:
        """Give the collection a new generation token (after a write) and return it."""
        token = new_token()
        self.open().modify(metadata={**self._fresh_metadata(), GENERATION_KEY: token})
        return token

    # -- reading -------------------------------------------------------------------------
    def count(self) -> int:
        return int(self.open().count())

    def read(self, include: str, ids: Sequence[str] | None = None) -> Iterator[tuple[str, Any]]:
        """(id, its `include` field: "metadatas", "embeddings" or "documents") of each of `ids`
        that is stored, or of every record; one chromadb request a page."""
        col = self.open()
        requests: Iterator[dict[str, Any]] = (
            ({"ids": list(ids[part])} for part in pages(len(ids)))
            if ids is not None
            else ({"limit": PAGE, "offset": offset} for offset in itertools.count(0, PAGE))
        )
        for request in requests:
            got = col.get(include=[include], **request)
            yield from zip(got["ids"], got[include], strict=True)
            if ids is None and len(got["ids"]) < PAGE:
                return

    def present(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are stored (readable or not)."""
        if not ids:
            return set()
        return set(self.open().get(ids=list(ids), include=[])["ids"])

    def records(self) -> tuple[list[Finding], list[BadRecord]]:
        """Every stored record, decoded one by one: readable findings (oldest first) and bad
        records (also kept in `bad_records`)."""
        findings: list[Finding] = []
        bad: list[BadRecord] = []
        for fid, meta in self.read("metadatas"):
            record = decode_record(fid, meta)
            if isinstance(record, BadRecord):
                bad.append(record)
            else:
                findings.append(record)
        for b in bad:
            self.bad_records[b.id] = b
        findings.sort(key=lambda f: (f.created_at, f.id))
        return findings, bad

    def stored(self, ids: Sequence[str]) -> dict[str, Finding | BadRecord]:
        """The stored records among `ids`, decoded."""
        return {fid: decode_record(fid, meta) for fid, meta in self.read("metadatas", ids)}

    def get(self, finding_id: str) -> Finding:
        found = self.stored([finding_id]).get(finding_id)
        if found is None:
            raise FindingNotFoundError(f"no finding with id {finding_id!r} in {self.location}")
        if isinstance(found, BadRecord):
            self.bad_records[found.id] = found
            raise DamagedRecordError(
                f"finding {finding_id} is damaged ({found.problem}); remove it with "
                f"`aar memory delete {finding_id}` or `aar memory repair --drop-bad`"
            )
        return found

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The primary vectors stored for `ids`."""
        import numpy as np

        return {fid: np.asarray(vec, dtype=np.float32) for fid, vec in self.read("embeddings", ids)}

    def save_raw(self, bad: Sequence[BadRecord], path: Path) -> None:
        """Write the bad records as stored (metadata as JSON) before they are dropped."""
        res = self.open().get(ids=[b.id for b in bad], include=["metadatas", "documents"])
        problems = {b.id: b.problem for b in bad}
        with path.open("x", encoding="utf-8") as out:
            for fid, meta, doc in zip(res["ids"], res["metadatas"], res["documents"], strict=True):
                record = {"id": fid, "problem": problems[fid], "metadata": meta, "document": doc}
                out.write(json.dumps(record, default=str) + "\n")

    def writer(self, index: SearchIndex | None) -> Writer:
        """The write calls of one critical section (see `Writer`)."""
        return Writer(self.open(), index)


class Writer:
    """chromadb's write calls; the first one marks the local index mid-write, so a crash part-way
    leaves the index untrusted and it is re-checked before its next use."""

    def __init__(self, collection: Any, index: SearchIndex | None) -> None:
        self._collection = collection
        self._index = index

    def mark(self) -> None:
        if self._index is not None:
            self._index.begin_write()
            self._index = None

    def add(self, **kwargs: Any) -> None:
        self.mark()
        self._collection.add(**kwargs)

    def update(self, **kwargs: Any) -> None:
        self.mark()
        self._collection.update(**kwargs)

    def delete(self, **kwargs: Any) -> None:
        self.mark()
        self._collection.delete(**kwargs)

    def add_rows(self, rows: Sequence[tuple[Any, ...]], primary: Any) -> None:
        """Add index rows (`SearchIndex.rows`: id, finding JSON, ...) with their primary vectors
        (a matrix), all or nothing: a failure (or Ctrl-C) part-way deletes the pages already
        added."""
        added: list[str] = []
        try:
            for part in pages(len(rows)):
                page = rows[part]
                ids = [row[0] for row in page]
                self.add(
                    ids=ids,
                    embeddings=primary[part],
                    metadatas=[metadata_of(row[1]) for row in page],
                )
                added.extend(ids)
        except BaseException:
            if added:
                self.delete(ids=added)
            raise

    def replace(self, findings: Sequence[Finding]) -> None:
        """Store new versions of findings (same ids, same text: the vectors stay)."""
        for part in pages(len(findings)):
            chunk = findings[part]
            self.update(ids=[f.id for f in chunk], metadatas=[record_metadata(f) for f in chunk])


def _collection_schema() -> Any:
    """Cosine vectors without chromadb's (downloading) embedder, and no inverted indexes on
    aar's metadata keys: aar never filters in chromadb, and indexing each finding's JSON made
    adds ~35% slower (10,000 findings: 1,516/s with the index, 2,072/s without)."""
    from chromadb import Schema, StringInvertedIndexConfig, VectorIndexConfig

    schema = Schema()
    schema.create_index(config=VectorIndexConfig(space="cosine", embedding_function=None))
    schema.delete_index(config=StringInvertedIndexConfig(), key="finding_json")
    return schema
