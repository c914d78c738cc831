"""`FindingsStore`: findings in one chromadb collection (local directory or Chroma server),
searched through aar's own index.

The store composes three parts, each in its own module:
- `_collection.py`: chromadb, the store of record (lazy connection, the writers' lock, the
  generation token, paged reads and writes); `get`, `list_findings`, `stats` and `export`
  read from it;
- `_sync.py`: the derived search index (`_index.py`), proven current against chromadb before
  it answers `search` or duplicate detection, and updated in the same critical section as
  every write;
- `_dedup.py`: near-duplicates linked on add and relinked on delete.

Reads tolerate bad records (`_records.py`): a record that no longer validates is skipped and
named in `bad_records`; `repair` lists, saves and drops them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from aar.errors import validation_problems
from aar.memory._collection import ChromaCollection, Writer
from aar.memory._dedup import as_linked, check_batch, check_links, link_duplicates, relink
from aar.memory._embed import Embedder
from aar.memory._errors import (
    CorruptStoreError,
    DuplicateFindingIdError,
    FindingNotFoundError,
    InvalidFindingError,
    InvalidQueryError,
)
from aar.memory._finding import Finding, Review, ReviewStatus
from aar.memory._importing import as_pending, import_vectors, new_positions, reusable
from aar.memory._models import (
    AddResult,
    FindingFilter,
    ImportResult,
    RepairResult,
    SearchHit,
    StoreStats,
)
from aar.memory._records import BadRecord
from aar.memory._sync import IndexSync
from aar.memory._transfer import ParsedExport, gc_paused, read_export, write_export


class FindingsStore:
    """The typed API the CLI and research sessions use; one instance per open store.

    chromadb is connected lazily: a local store whose index is trusted answers `search` without
    importing chromadb at all (`connect_now=False`), which keeps `aar memory query` fast.
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
        self._embedders = tuple(embedders)
        self.location = location
        self.mode = mode
        self.dedup_threshold = dedup_threshold
        self._chroma = ChromaCollection(
            connect,
            self._embedders[0],
            location=location,
            mode=mode,
            lock_path=lock_path,
            allow_other_collections=allow_other_collections,
        )
        self._sync = IndexSync(
            self._chroma,
            self._embedders,
            cache_dir=cache_dir,
            index_path=index_path,
            connect_now=connect_now,
            store_file=store_file,
        )
        if connect_now or not self._sync.trusted_alone():
            self._sync.connected()

    @property
    def bad_records(self) -> dict[str, BadRecord]:
        """Records skipped by this store's reads because they no longer validate, by id."""
        return self._chroma.bad_records

    @property
    def connected(self) -> bool:
        """Has chromadb been opened? (A current local index answers `search` without it.)"""
        return self._chroma.connected

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
        check_batch(findings, require_eval_records)
        texts = [f.embedding_text() for f in findings]
        vectors = [e.embed(texts) for e in self._embedders]
        with self._sync.writing() as writer:
            existing = self._chroma.present([f.id for f in findings])
            if existing:
                raise DuplicateFindingIdError(
                    f"finding id(s) already stored: {', '.join(sorted(existing)[:5])}"
                )
            check_links(findings, self._chroma)
            results = link_duplicates(
                self._sync.index(), findings, vectors[0], self.dedup_threshold
            )
            self._write(writer, as_linked(findings, results), vectors)
        return results

    def _write(
        self,
        writer: Writer,
        findings: list[Finding],
        vectors: Sequence[Any],
        families: Sequence[list[str]] = (),
    ) -> None:
        """chromadb first (the store of record), then the index; all or nothing. Building the
        index rows in a thread beside chromadb's add measured no faster (its add holds the
        GIL), so it is not done."""
        rows = self._sync.index().rows(findings, vectors, families)  # (id, json, ...)
        writer.add_rows(rows, vectors[0])
        self._sync.commit(rows=rows)

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
            problems = validation_problems(exc, model=Review)
            raise InvalidFindingError([f"review.{p}" for p in problems]) from None
        with self._sync.writing() as writer:
            updated = self._chroma.get(finding_id).model_copy(update={"review": review})
            writer.replace([updated])
            self._sync.commit(update=[updated])
        return updated

    def delete(self, finding_id: str) -> list[str]:
        """Remove one finding (a damaged record too); returns the ids relinked because they
        were its near-duplicates (the oldest becomes the original, the rest link to it)."""
        with self._sync.writing() as writer:
            if not self._chroma.present([finding_id]):
                raise FindingNotFoundError(f"no finding with id {finding_id!r} in {self.location}")
            relinked = relink(self._findings(), [finding_id])
            writer.delete(ids=[finding_id])
            writer.replace(relinked)
            self._sync.commit(update=relinked, delete=[finding_id])
        self.bad_records.pop(finding_id, None)
        return [f.id for f in relinked]

    def repair(self, *, drop_bad: bool = False, save_to: Path | None = None) -> RepairResult:
        """Name every unreadable record and rebuild the search index; with `drop_bad`, save the
        bad records' raw metadata to `save_to` (JSON lines) and remove them from the store."""
        with self._sync.writing() as writer:
            self._sync.rebuild()
            bad = list(self.bad_records.values())
            result = RepairResult(bad=bad)
            if drop_bad and bad:
                ids = [b.id for b in bad]
                if save_to is not None:
                    self._chroma.save_raw(bad, save_to)
                    result.saved_to = str(save_to)
                relinked = relink(self._findings(), ids)
                writer.delete(ids=ids)
                writer.replace(relinked)
                self._sync.commit(update=relinked, delete=ids, bad=[])
                result.dropped, result.relinked = ids, [f.id for f in relinked]
                for fid in ids:
                    self.bad_records.pop(fid, None)
            result.indexed = self._sync.index().state().count
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
        self._sync.ensure_current()
        index = self._sync.index()
        for fid, problem in index.bad_records():
            self.bad_records.setdefault(fid, BadRecord(id=fid, problem=problem))
        queries = [e.embed([text])[0] for e in self._embedders]
        hits = index.search(queries, filters or FindingFilter(), k, text)
        return [SearchHit(finding=f, score=s, similarity=sim) for f, s, sim in hits]

    def get(self, finding_id: str) -> Finding:
        return self._sync.connected().get(finding_id)

    def duplicates_of(self, finding_id: str) -> list[Finding]:
        """Findings linked to `finding_id` as near-duplicates, oldest first."""
        return [f for f in self._findings() if f.duplicate_of == finding_id]

    def list_findings(
        self, filters: FindingFilter | None = None, limit: int | None = None
    ) -> list[Finding]:
        """Matching findings, newest first."""
        if limit is not None and limit < 0:
            raise InvalidQueryError(f"the limit must be 0 or more, got {limit}")
        filters = filters or FindingFilter()
        found = [f for f in self._findings() if filters.matches(f)]
        found.reverse()
        return found[:limit] if limit is not None else found

    def _findings(self) -> list[Finding]:
        """Every readable finding, oldest first (bad records are named in `bad_records`)."""
        return self._sync.connected().records()[0]

    def count(self) -> int:
        return self._sync.connected().count()

    def stats(self) -> StoreStats:
        findings, bad = self._sync.connected().records()
        unique = [f for f in findings if not f.duplicate_of]
        return StoreStats(
            location=self.location,
            mode=self.mode,
            embedding_model=self._embedders[0].name,
            embedding_dim=self._embedders[0].dim,
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
        self._sync.ensure_current()
        findings = self._findings()
        index = self._sync.index()
        rows = index.vectors_of([f.id for f in findings])
        missing = [f.id for f in findings if f.id not in rows]
        if missing:  # the index was re-synchronised above, so this is a bug or a race
            raise CorruptStoreError(f"the search index lacks vectors for {', '.join(missing[:5])}")
        items = [(f, *rows[f.id]) for f in findings]
        return write_export(out, self._embedders, items, index.glossary.sha256)

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
        reuse = reusable(self._embedders, parsed.vectors, parsed.header is not None, reembed)
        findings, was = as_pending(parsed.findings)
        with self._sync.writing() as writer, gc_paused():
            new_at = new_positions(findings, self._chroma.stored([f.id for f in findings]))
            new = [findings[i] for i in new_at]
            check_links(new, self._chroma)
            vectors = import_vectors(self._embedders, new, new_at, parsed.vectors, reuse)
            glossary = self._sync.index().glossary.sha256
            same_glossary = parsed.header and parsed.header.glossary == glossary
            families = (
                [parsed.families[i] for i in new_at] if same_glossary and parsed.families else []
            )
            if new:
                self._write(writer, new, vectors, families)
        return ImportResult(
            added=len(new),
            skipped_identical=len(findings) - len(new),
            reviews_reset=dict(Counter(was[i] for i in new_at if i in was)),
            vectors_reused=len(new) if new and reuse[0] else 0,
            embedded=len(new) if new and not reuse[0] else 0,
        )
