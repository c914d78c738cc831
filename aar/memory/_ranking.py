"""Ranking over the search index's in-memory snapshot: filters, fused scores, nearest original.

`_index.py` owns the SQLite file and its row format, and loads it into a `Snapshot`; this module
only reads snapshots. Kept apart so the index class is about storage (rows, transactions, the
generation it matches) and the scoring (channels, family and task bonuses, BM25) can be read
and tuned on its own: the bench sets the weights below on this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aar.memory._lexical import Postings

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._finding import Finding
    from aar.memory._glossary import Glossary
    from aar.memory._models import FindingFilter

# Weights of the bonuses beside the channels' cosines, chosen on the mean recall@5 of the four
# development sets (issue, held-out, blind A/B dev; tools/bench/bench_memory.py), a plateau:
FAMILY_WEIGHT = 1.0  # 1.0-1.5 within 0.01
TASK_WEIGHT = 0.5  # 0.3-1.0 within 0.01; 0 loses 0.1 on blind B dev
LEXICAL_WEIGHT = 0.1  # z-scored BM25; 0.05 and 0.2 lose ~0.02


@dataclass
class Snapshot:
    """The whole index as numpy arrays, for one committed `version`."""

    version: int
    rowids: np.ndarray
    ids: list[str]
    vectors: np.ndarray  # (n, sum of channel dims) float32: every channel's vector, side by side
    primary_dim: int
    families: np.ndarray  # (n, n_families): 0.0 where a finding has the family, else -inf
    postings: Postings  # the lexical channel
    method_keys: np.ndarray
    tasks: list[frozenset[str]]
    tags: list[frozenset[str]]
    verdicts: np.ndarray
    statuses: np.ndarray
    sessions: np.ndarray
    created: np.ndarray
    duplicate: np.ndarray
    by_method: dict[str, np.ndarray] = field(default_factory=dict)  # filled on first use

    def same_method(self, method_key: str) -> np.ndarray:
        """Rows of originals (not duplicates) with this method, for duplicate detection."""
        import numpy as np

        if not self.by_method and len(self.ids):
            groups: dict[str, list[int]] = {}
            for i, (key, dup) in enumerate(zip(self.method_keys, self.duplicate, strict=True)):
                if not dup:
                    groups.setdefault(key, []).append(i)
            self.by_method = {key: np.array(rows, dtype=np.int64) for key, rows in groups.items()}
        return self.by_method.get(method_key, np.empty(0, dtype=np.int64))


class Ranker:
    """Scores a snapshot's rows against a query: the channels' cosines plus the glossary's
    family and task bonuses (the glossary's description vectors are fixed per open index)."""

    def __init__(self, glossary: Glossary, family_vectors: Sequence[np.ndarray]) -> None:
        self._family_vectors = list(family_vectors)  # per channel: every description's vector
        owners = glossary.owners  # descriptions are grouped by family, in family order
        self._starts = [i for i, j in enumerate(owners) if i == 0 or owners[i - 1] != j]
        self._kinds = {
            kind: [j for j, f in enumerate(glossary.families) if f.kind == kind]
            for kind in ("family", "task")
        }

    def top(
        self,
        snap: Snapshot,
        queries: Sequence[np.ndarray],
        filters: FindingFilter,
        k: int,
        text: str = "",
    ) -> list[tuple[int, float, float]]:
        """The top `k` (row, fused score, primary cosine) among rows matching `filters`.

        Score: the sum over channels of cosine(query, finding), plus the family and task
        bonuses (`_bonus`), plus LEXICAL_WEIGHT times the z-scored BM25 of `text`. One pass
        over all vectors (the channels side by side: memory-bound, ~30 MB at 10,000 findings),
        then the filter.
        """
        import numpy as np

        keep = np.flatnonzero(mask(snap, filters))
        if not len(keep):
            return []
        # einsum: one thread. BLAS spreads this matrix-vector product over both cores, and on a
        # busy machine its threads wait for each other (measured 2-10 ms against a steady 4 ms)
        total = np.einsum("ij,j->i", snap.vectors, np.concatenate(queries))
        total += self._bonus(snap, queries)
        if text and LEXICAL_WEIGHT:
            total += LEXICAL_WEIGHT * snap.postings.scores(text, len(snap.ids))
        scores = total[keep]
        top = np.argpartition(-scores, k - 1)[:k] if len(keep) > k else np.arange(len(keep))
        rows = keep[top[np.lexsort((keep[top], -scores[top]))]]  # by score, ties by age
        similarity = snap.vectors[rows, : snap.primary_dim] @ queries[0]
        return [
            (int(r), round(float(total[r]), 6), round(float(sim), 6))
            for r, sim in zip(rows, similarity, strict=True)
        ]

    def _bonus(self, snap: Snapshot, queries: Sequence[np.ndarray]) -> np.ndarray:
        """Per channel and per kind (method families, tasks): each family's closeness to the
        query is its best description's cosine, centred over the families of that kind (so a
        finding without one is neither helped nor hurt); a finding earns the weight times the
        best closeness among its families."""
        import numpy as np

        out = np.zeros(len(snap.ids), dtype=np.float64)
        for fam, query in zip(self._family_vectors, queries, strict=True):
            closeness = np.maximum.reduceat(fam @ query, self._starts)
            for kind, weight in (("family", FAMILY_WEIGHT), ("task", TASK_WEIGHT)):
                columns = self._kinds[kind]
                if not columns or not weight:
                    continue
                near = closeness[columns] - closeness[columns].mean()
                bonus = (snap.families[:, columns] + near).max(axis=1)
                out += weight * np.where(np.isfinite(bonus), bonus, 0.0)
        return out


def nearest_original(
    snap: Snapshot, finding: Finding, vector: np.ndarray
) -> tuple[str, float] | None:
    """The stored original (not itself a duplicate) most similar to `finding` with the same
    method and at least its tasks, by the primary channel's cosine."""
    import numpy as np

    wanted = set(finding.tasks)
    rows = [r for r in snap.same_method(finding.method_key) if wanted <= snap.tasks[r]]
    if not rows:
        return None
    sims = snap.vectors[rows, : snap.primary_dim] @ vector
    best = int(np.argmax(sims))
    return snap.ids[rows[best]], float(sims[best])


def mask(snap: Snapshot, filters: FindingFilter) -> np.ndarray:
    """Rows matching `filters` (duplicates dropped unless asked for)."""
    import numpy as np

    n = len(snap.ids)
    keep = np.ones(n, dtype=bool)
    if not filters.include_duplicates:
        keep &= ~snap.duplicate
    for column, value in (
        (snap.verdicts, filters.verdict),
        (snap.statuses, filters.status),
        (snap.sessions, filters.session_id),
    ):
        if value is not None:
            keep &= column == value
    if filters.since is not None:
        keep &= snap.created >= filters.since.timestamp()
    if filters.until is not None:
        keep &= snap.created < filters.until.timestamp()
    for sets, value in ((snap.tasks, filters.task), (snap.tags, filters.tag)):
        if value:
            keep &= np.fromiter((value in s for s in sets), dtype=bool, count=n)
    return keep
