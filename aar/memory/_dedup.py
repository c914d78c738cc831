"""Near-duplicates: a new finding close enough to an earlier one on the same task(s) and method
is stored linked to it (`duplicate_of`), not as a second original; removing an original relinks
its duplicates; a link given in the input must name a real finding.

Why link instead of refusing: the duplicate still carries its own session, seeds and evaluator
records (evidence that the result repeats), while search shows each result once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from aar.memory._errors import InvalidFindingError
from aar.memory._finding import Finding
from aar.memory._models import AddResult

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._collection import ChromaCollection
    from aar.memory._index import SearchIndex


def check_batch(findings: Sequence[Finding], require_eval_records: bool) -> None:
    """Every id once in the input; with `require_eval_records`, every finding cites records."""
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


def check_links(findings: Sequence[Finding], chroma: ChromaCollection) -> None:
    """A given `duplicate_of` must name a finding stored or earlier in the same input."""
    batch = {f.id for f in findings}
    targets = sorted({f.duplicate_of for f in findings if f.duplicate_of} - batch)
    found = chroma.present(targets)
    problems = [
        f"{f.id}: duplicate_of {f.duplicate_of!r} is not a stored finding"
        for f in findings
        if (f.duplicate_of and f.duplicate_of not in batch | found) or f.duplicate_of == f.id
    ]
    if problems:
        raise InvalidFindingError(problems)


def link_duplicates(
    index: SearchIndex, findings: Sequence[Finding], vectors: np.ndarray, threshold: float
) -> list[AddResult]:
    """Link each new finding to its most similar earlier original with the same task(s) and
    method (stored or earlier in the batch), if at least `threshold` similar (primary cosine)."""
    import numpy as np

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
        if best[1] >= threshold:
            results[i] = AddResult(id=f.id, duplicate_of=best[0], similarity=round(best[1], 6))
        else:
            group.append(i)
    return results


def as_linked(findings: Sequence[Finding], results: Sequence[AddResult]) -> list[Finding]:
    """The findings as stored: each linked one carries its `duplicate_of`."""
    return [
        f.model_copy(update={"duplicate_of": r.duplicate_of}) if r.duplicate_of else f
        for f, r in zip(findings, results, strict=True)
    ]


def relink(stored: Iterable[Finding], removed: Sequence[str]) -> list[Finding]:
    """New links for the duplicates of findings about to be removed: in each group the oldest
    becomes the original and the rest link to it."""
    gone = set(removed)
    dups: dict[str, list[Finding]] = {}
    for f in stored:
        if f.duplicate_of is not None and f.duplicate_of in gone and f.id not in gone:
            dups.setdefault(f.duplicate_of, []).append(f)
    out: list[Finding] = []
    for group in dups.values():
        group.sort(key=lambda f: (f.created_at, f.id))
        head = group[0].model_copy(update={"duplicate_of": None})
        out += [head, *(f.model_copy(update={"duplicate_of": head.id}) for f in group[1:])]
    return out
