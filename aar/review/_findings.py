"""Findings as reviewable items: their content hash, and the findings memory, opened lazily.

A decision on a finding is bound to `finding_sha256`: the finding's content without its
review (which the decision changes) and its duplicate link (which the store manages). The
memory (chromadb) is imported only when a finding is decided or listed, so deciding
proposals never needs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from aar.hashing import content_sha256
from aar.review._errors import ItemNotFoundError

if TYPE_CHECKING:
    from aar.memory import Finding, FindingsStore


def finding_sha256(finding: Finding) -> str:
    """The hash of what a reviewer decides on: everything but `review` and `duplicate_of`."""
    content = finding.model_dump(mode="json", exclude={"review", "duplicate_of"})
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return content_sha256(canonical)


def open_findings_store() -> FindingsStore:
    """The configured findings memory; a local store that does not exist is not created."""
    from aar.config import get_settings
    from aar.memory import open_store

    settings = get_settings()
    if not settings.memory.url and not Path(settings.memory.path).exists():
        raise ItemNotFoundError(
            f"the findings memory {settings.memory.path} does not exist, so it holds no finding"
        )
    return open_store(settings)


def get_finding(store: FindingsStore, finding_id: str) -> Finding:
    from aar.memory import FindingNotFoundError

    try:
        return store.get(finding_id)
    except FindingNotFoundError:
        raise ItemNotFoundError(
            f"no proposal or finding {finding_id} (none in the runs directory or the findings "
            f"memory at {store.location})"
        ) from None
