"""Opening a store from settings: a local directory (checked first) or a Chroma server."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

from aar.memory._collection import LOCK_NAME
from aar.memory._embed import Embedder, load_embedder
from aar.memory._errors import CorruptStoreError, ForeignStoreError, MemoryServerError
from aar.memory._index import INDEX_FILES, INDEX_NAME
from aar.memory._store import FindingsStore

if TYPE_CHECKING:
    from aar.config import MemorySettings, Settings

_IGNORED_ENTRIES = {"README.md", ".gitignore", ".gitkeep", LOCK_NAME, *INDEX_FILES}


def check_local_dir(path: Path) -> bool:
    """True if `path` already holds a chromadb store; raise if it holds anything foreign.

    An absent or empty directory (a README or .gitignore aside) is a new store.
    """
    if path.exists() and not path.is_dir():
        raise ForeignStoreError(f"memory path {path} is a file, not a store directory")
    if not path.exists():
        return False
    try:
        entries = {entry.name for entry in path.iterdir()} - _IGNORED_ENTRIES
    except OSError as exc:
        raise CorruptStoreError(f"cannot read the memory directory {path}: {exc}") from None
    for name in (LOCK_NAME, *INDEX_FILES):  # aar's own files: a directory there is damage
        own = path / name
        if (own.exists() or own.is_symlink()) and not own.is_file():
            raise CorruptStoreError(
                f"{own} should be aar's {'lock' if name == LOCK_NAME else 'index'} file but is "
                "not a regular file; move it away (aar recreates it)"
            )
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


def check_store(settings: Settings) -> None:
    """Before a research round: can the memory take the round's findings? One clear error now
    (a file where the store should be, a foreign or corrupt store) instead of a round whose
    report says its findings were stored when they were not.

    Cheap: no chromadb import. A local store's SQLite file gets `PRAGMA quick_check`, read
    only; a server's URL is checked for form (the server is reached when findings are stored).
    """
    from aar.files import check_dir_or_creatable

    mem = settings.memory
    if mem.url:
        server_address(mem.url)
        return
    path = Path(mem.path)
    if not check_local_dir(path):
        check_dir_or_creatable(path, "memory directory")
        return
    sqlite = path / "chroma.sqlite3"
    try:
        db = sqlite3.connect(f"file:{quote(str(sqlite.resolve()))}?mode=ro", uri=True)
        try:
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        problem = str(exc)
    if problem != "ok":
        raise CorruptStoreError(
            f"the findings memory {path} is corrupt ({problem}); restore it from an export "
            "(`aar memory import`) or point AAR_MEMORY_PATH at another directory"
        )


def server_address(url: str) -> tuple[str, int, bool]:
    """(host, port, https) of `memory.url`; a malformed URL or port is one clear error."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise MemoryServerError(f"memory.url must look like http://HOST:PORT, got {url!r}")
    try:
        port = parsed.port
    except ValueError:
        raise MemoryServerError(
            f"memory.url {url!r} has an invalid port (use 1-65535, e.g. http://127.0.0.1:8000)"
        ) from None
    if port is not None and not 1 <= port <= 65535:
        raise MemoryServerError(f"memory.url {url!r} has an invalid port (use 1-65535)")
    https = parsed.scheme == "https"
    return parsed.hostname, port or (443 if https else 8000), https


def channels(mem: MemorySettings, embedder: Embedder | None = None) -> list[Embedder]:
    """The store's own embedder first; with MiniLM also the static table, fused at query time
    (on the held-out paraphrase set the two disagree usefully: README, "Findings memory")."""
    primary = embedder or load_embedder(mem.embedding, Path(mem.cache_dir))
    extra = [load_embedder("static", Path(mem.cache_dir))] if mem.embedding == "minilm" else []
    return [primary, *extra]


def open_store(
    settings: Settings, *, embedder: Embedder | None = None, connect: bool = True
) -> FindingsStore:
    """Open (or create) the store named by `settings.memory`: server if `url`, else `path`.

    `connect=False`: a local store whose search index is current answers `search` without
    importing chromadb; everything else connects on first use.
    """
    mem = settings.memory
    if mem.url:
        host, port, https = server_address(mem.url)
        return FindingsStore(
            _server_client(mem.url, host, port, https),
            channels(mem, embedder),
            location=mem.url,
            mode="server",
            cache_dir=Path(mem.cache_dir),
            dedup_threshold=mem.dedup_threshold,
            allow_other_collections=True,
        )
    path = Path(mem.path)
    check_local_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorruptStoreError(f"cannot create the memory directory {path}: {exc}") from None
    return FindingsStore(
        _local_client(path),
        channels(mem, embedder),
        location=str(path),
        mode="local",
        cache_dir=Path(mem.cache_dir),
        index_path=path / INDEX_NAME,
        lock_path=path / LOCK_NAME,
        dedup_threshold=mem.dedup_threshold,
        connect_now=connect,
        store_file=path / "chroma.sqlite3",
    )


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def _server_client(url: str, host: str, port: int, https: bool) -> Any:
    def connect() -> Any:
        import chromadb

        try:
            return chromadb.HttpClient(host=host, port=port, ssl=https, settings=_chroma_settings())
        except Exception as exc:
            raise MemoryServerError(f"cannot reach the Chroma server at {url}: {exc}") from exc

    return connect


def _local_client(path: Path) -> Any:
    def connect() -> Any:
        import chromadb

        try:
            return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        except Exception as exc:
            raise CorruptStoreError(f"cannot open the store at {path}: {exc}") from exc

    return connect
