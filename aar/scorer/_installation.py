"""The installation's scorer as a process sees it: the local ledger, or a scorer service.

A process with `settings.scorer.url` set (a team's researcher on a Dask worker, or any
session pointed at `aar scorer serve`) holds no labels and no task key: it scores through
the service, fetches public exports from it, and learns the key's id from it. The bench
refuses to load a task's data or key there (`aar.bench.LabelsElsewhereError`), so a code path
that would reach ground truth fails closed instead of quietly loading it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aar.scorer._models import ScoreRequest, ScoreResponse

if TYPE_CHECKING:
    from aar.bench import Task
    from aar.scorer._client import RemoteScorer


class ScorerClient(Protocol):
    """What a session needs from a scorer: one scored submission at a time."""

    def score(self, request: ScoreRequest) -> ScoreResponse: ...


def remote_scorer() -> RemoteScorer | None:
    """The configured scorer service's client, or None where this process holds the labels."""
    from aar.config import get_settings

    settings = get_settings().scorer
    if settings.url is None or settings.token_file is None:
        return None
    return _client(settings.url, settings.token_file)


@lru_cache(maxsize=4)
def _client(url: str, token_file: Path) -> RemoteScorer:
    from aar.scorer._client import RemoteScorer
    from aar.scorer._token import read_token

    return RemoteScorer(url, read_token(token_file))


def installation_scorer(device: str = "cpu") -> ScorerClient:
    """The scorer every session of this process scores through."""
    from aar.scorer._scorer import Scorer

    remote = remote_scorer()
    return Scorer(device=device) if remote is None else remote


def export_public_many(pairs: Iterable[tuple[str, int]], directory: str | os.PathLike[str]) -> Path:
    """`aar.bench.export_public_many`, fetched from the scorer service where there is one."""
    from aar.bench import export_public_many as export_here

    remote = remote_scorer()
    if remote is None:
        return export_here(pairs, directory)

    def fetch(task: Task, seed: int, target: Path) -> Path:
        return remote.fetch_public(task.name, seed, target)

    return export_here(pairs, directory, export=fetch)


def key_id() -> str:
    """The task key's id: this installation's, or the scorer service's."""
    remote = remote_scorer()
    if remote is None:
        from aar.bench import key_id as local_key_id

        return local_key_id()
    return remote.health().key_id
