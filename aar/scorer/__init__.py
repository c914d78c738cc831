"""The installation's scorer: one evaluation ledger, a feedback mechanism, an attack battery.

Sits above `aar.bench` (whose `Evaluator` holds the labels and computes exact metrics) and
below `aar.session` (whose ledger scores through it). See `_mechanism` for the guarantee and
`aar.scorer.attacks` for the battery that measures it. In a team the scorer is a service
(`ScorerService`, `aar scorer serve`) and researchers score through `RemoteScorer`.
"""

from typing import Any

from aar.scorer._client import (
    RemoteScorer,
    ScorerAuthError,
    ScorerRequestError,
    ScorerUnavailableError,
)
from aar.scorer._installation import (
    ScorerClient,
    export_public_many,
    installation_scorer,
    key_id,
    remote_scorer,
)
from aar.scorer._mechanism import Answer, Decision, Policy, Prior, decide
from aar.scorer._models import PoolStatus, ScoreRequest, ScoreResponse, ScorerHealth, TeamBudget
from aar.scorer._scorer import Scorer, is_repeat_flag, scorer_dir, shown_metrics
from aar.scorer._store import LedgerEntry, LedgerStore, ScorerLockError
from aar.scorer._token import read_token, token_path

_SERVICE = ("ScorerService", "TeamLedgerStore", "scorer_app")
"""Imported on first use: the service needs FastAPI, which a researcher's worker does not."""


def __getattr__(name: str) -> Any:
    if name in _SERVICE:
        from aar.scorer import _service

        return getattr(_service, name)
    raise AttributeError(f"module 'aar.scorer' has no attribute {name!r}")


__all__ = [
    "Answer",
    "Decision",
    "LedgerEntry",
    "LedgerStore",
    "Policy",
    "PoolStatus",
    "Prior",
    "RemoteScorer",
    "ScoreRequest",
    "ScoreResponse",
    "Scorer",
    "ScorerAuthError",
    "ScorerClient",
    "ScorerHealth",
    "ScorerLockError",
    "ScorerRequestError",
    "ScorerService",
    "ScorerUnavailableError",
    "TeamBudget",
    "TeamLedgerStore",
    "decide",
    "export_public_many",
    "installation_scorer",
    "is_repeat_flag",
    "key_id",
    "read_token",
    "remote_scorer",
    "scorer_app",
    "scorer_dir",
    "shown_metrics",
    "token_path",
]
