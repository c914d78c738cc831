"""Keeping aar's search index (`_index.py`) in line with chromadb, the store of record.

Search and duplicate detection run on the derived index, which is updated in the same critical
section as chromadb and carries the collection's generation token. An index whose token, count
or configuration does not match the collection is re-synchronised from chromadb before it is
used; aar never queries chromadb's own vector index, whose per-process cache misses other
processes' writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aar.memory._collection import ChromaCollection, Writer
from aar.memory._errors import CorruptStoreError
from aar.memory._glossary import load_glossary
from aar.memory._index import SearchIndex

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._embed import Embedder
    from aar.memory._finding import Finding


def open_index(path: Path, channels: Sequence[Embedder], cache_dir: Path) -> SearchIndex:
    """The index at `path`; an unreadable one is derived data, so it is rebuilt."""
    glossary = load_glossary()
    vectors = [glossary.vectors(e, cache_dir) for e in channels]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return SearchIndex(path, channels, glossary, vectors)
    except CorruptStoreError:
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
            (path.parent / name).unlink(missing_ok=True)
        return SearchIndex(path, channels, glossary, vectors)


class IndexSync:
    """The search index of one open store, and the proof that it matches chromadb.

    Local mode keeps the index in the store directory (`index_path`); server mode keeps one per
    server and collection in the cache directory, opened once chromadb is connected.
    """

    def __init__(
        self,
        chroma: ChromaCollection,
        embedders: Sequence[Embedder],
        *,
        cache_dir: Path,
        index_path: Path | None = None,
        connect_now: bool = True,
        store_file: Path | None = None,
    ) -> None:
        self._chroma = chroma
        self._embedders = tuple(embedders)
        self._cache_dir = Path(cache_dir)
        self._connect_now = connect_now
        self._store_file = store_file
        self._checked = False  # has the index been compared with chromadb since opening?
        self._index = open_index(index_path, embedders, cache_dir) if index_path else None

    @property
    def local(self) -> bool:
        return self._chroma.mode == "local"

    def connected(self) -> ChromaCollection:
        """chromadb, connecting (and checking the index) on first use."""
        if not self._chroma.connected:
            collection = self._chroma.open()
            if self._index is None:  # server mode: one index per server and collection
                key = _server_key(self._chroma.location, str(collection.id))
                path = self._cache_dir / "server-index" / f"{key}.sqlite3"
                self._index = open_index(path, self._embedders, self._cache_dir)
            self.ensure_current()
        return self._chroma

    def index(self) -> SearchIndex:
        """The index (opening chromadb first in server mode, where its path needs the
        collection's id)."""
        if self._index is None:
            self.connected()
        assert self._index is not None
        return self._index

    # -- is the index current? -----------------------------------------------------------
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

    def trusted_alone(self) -> bool:
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
        if self.local and self._store_file is not None and self._index is not None:
            self._index.set_store_stamp(self._stamp())

    def ensure_current(self) -> None:
        """Use the index only if it provably matches the store; otherwise re-synchronise.

        Local: a clean index whose token was checked against chromadb when this store
        connected is trusted (every aar write updates both under the lock, so other aar
        processes' writes reach it through the shared file); a mid-write, foreign-config or
        never-checked index is compared with chromadb first. Server: other clients write
        there too, so the server's token is read before every search.
        """
        index = self.index()
        if self.local and index.trusted() and self._checked:
            return
        if self.local and not self._connect_now and self.trusted_alone():
            return
        chroma = self.connected()
        with chroma.locked():
            state = index.state()
            token = chroma.token()
            current = index.trusted() and state.generation == token
            if current and not self._checked:  # once per open: also catch writes that
                # bypassed aar (they change the count, not the token)
                current = state.count + len(index.bad_records()) == chroma.count()
            if not current:
                self._resync(token)
            self._restamp()
        self._checked = True

    def rebuild(self) -> None:
        """Forget the whole index and derive it again from chromadb (under the caller's lock);
        the store's bad records are named afresh in `ChromaCollection.bad_records`."""
        index = self.index()
        index.apply(generation="", delete=list(index.known()))
        self._chroma.bad_records.clear()
        self._resync(self._chroma.token())

    def _resync(self, token: str) -> None:
        """Bring the index in line with chromadb: new, changed and removed records, bad ones
        named. Vectors are fetched only for records the index lacks."""
        index = self.index()
        if not token:  # a store written before generation tokens: give it one
            token = self._chroma.set_token()
        stored = index.stored_config()
        if stored is not None and stored != json.loads(index.config):
            index.apply(generation="", delete=list(index.known()))  # model or glossary changed
        known = index.known()
        findings, bad = self._chroma.records()
        remote = {f.id: f for f in findings}
        new = [f for f in findings if f.id not in known]
        changed = [f for f in findings if f.id in known and known[f.id] != f.model_dump_json()]
        vectors = self._chroma.vectors([f.id for f in new])
        upsert = [(f, self._channel_vectors(f, vectors[f.id])) for f in new]
        gone = [fid for fid in known if fid not in remote]
        index.apply(
            generation=token,
            upsert=upsert,
            update=changed,
            delete=gone,
            bad=[(b.id, b.problem) for b in bad],
        )

    def _channel_vectors(self, finding: Finding, primary: np.ndarray) -> list[np.ndarray]:
        """The primary vector (from the store) and the other channels' (computed, fast)."""
        text = [finding.embedding_text()]
        return [primary, *(e.embed(text)[0] for e in self._embedders[1:])]

    # -- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self) -> Iterator[Writer]:
        """The critical section of every write: the lock and a current index. Changes to
        chromadb go through the yielded `Writer`, which first marks the index mid-write (a
        crash then leaves it untrusted); `commit` gives the store a new token and applies the
        same changes to the index."""
        with self._chroma.locked():
            self.ensure_current()
            yield self._chroma.writer(self.index() if self.local else None)

    def commit(self, **changes: Any) -> None:
        """After chromadb's writes: a new generation token, and `changes` (`SearchIndex.apply`'s
        arguments) applied to the index."""
        token = self._chroma.set_token()
        # A server's other clients may have written between our writes and this token, so a
        # server index claims no token and is re-checked before the next search.
        self.index().apply(generation=token if self.local else "", **changes)
        self._restamp()


def _server_key(url: str, collection_id: str) -> str:
    return hashlib.sha256(f"{url}|{collection_id}".encode()).hexdigest()[:16]
