"""The installation's scorer: one evaluation ledger, a feedback mechanism, an attack battery.

Sits above `aar.bench` (whose `Evaluator` holds the labels and computes exact metrics) and
below `aar.session` (whose ledger scores through it). See `_mechanism` for the guarantee and
`aar.scorer.attacks` for the battery that measures it.
"""

from aar.scorer._mechanism import Answer, Decision, Policy, Prior, decide
from aar.scorer._models import PoolStatus, ScoreRequest, ScoreResponse
from aar.scorer._scorer import Scorer, scorer_dir, shown_metrics
from aar.scorer._store import LedgerEntry, LedgerStore, ScorerLockError

__all__ = [
    "Answer",
    "Decision",
    "LedgerEntry",
    "LedgerStore",
    "Policy",
    "PoolStatus",
    "Prior",
    "ScoreRequest",
    "ScoreResponse",
    "Scorer",
    "ScorerLockError",
    "decide",
    "scorer_dir",
    "shown_metrics",
]
