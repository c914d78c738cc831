"""Research sessions: `runs/<id>/` as a git repository, an append-only event log from which
every state and number is rebuilt, budgets enforced outside the agent, one evaluation ledger,
end-of-round holdout scoring, reports, and resume after a kill.
"""

from aar.session._budget import BudgetExhausted, BudgetGuard
from aar.session._claims import VERDICTS, ClaimError
from aar.session._config import (
    DEFAULT_GOAL,
    DEFAULT_TASKS,
    PROTOCOL,
    SCRIPTED,
    Budgets,
    SessionConfig,
)
from aar.session._events import EventLog, SessionBusyError, replay
from aar.session._evidence import UnbackedNumberError
from aar.session._finalize import BASELINES, finish_logged_end
from aar.session._ledger import EvalBudgetExhausted
from aar.session._models import (
    EvalEntry,
    Event,
    Experiment,
    Hypothesis,
    RoundInfo,
    RoundOutcome,
    RoundSummary,
    SessionState,
    Usage,
)
from aar.session._plan import SIZED as SIZED_BUDGETS
from aar.session._plan import (
    BudgetTooSmallError,
    RoundPlan,
    check_configured,
    plan_round,
    sized_budget,
)
from aar.session._progress import Progress
from aar.session._recall import MEMORY_NOTICE, FeedbackPGR, MemoryHit, MemoryResults
from aar.session._replay import ReplayResult, replay_session
from aar.session._report import ReportData, render_markdown, report_data
from aar.session._session import RoundOver, Session, SessionNotFoundError, ToolError

__all__ = [
    "BASELINES",
    "DEFAULT_GOAL",
    "DEFAULT_TASKS",
    "MEMORY_NOTICE",
    "PROTOCOL",
    "SCRIPTED",
    "SIZED_BUDGETS",
    "VERDICTS",
    "BudgetExhausted",
    "BudgetGuard",
    "BudgetTooSmallError",
    "Budgets",
    "ClaimError",
    "EvalBudgetExhausted",
    "EvalEntry",
    "Event",
    "EventLog",
    "Experiment",
    "FeedbackPGR",
    "Hypothesis",
    "MemoryHit",
    "MemoryResults",
    "Progress",
    "ReplayResult",
    "ReportData",
    "RoundInfo",
    "RoundOutcome",
    "RoundOver",
    "RoundPlan",
    "RoundSummary",
    "Session",
    "SessionBusyError",
    "SessionConfig",
    "SessionNotFoundError",
    "SessionState",
    "ToolError",
    "UnbackedNumberError",
    "Usage",
    "check_configured",
    "finish_logged_end",
    "plan_round",
    "render_markdown",
    "replay",
    "replay_session",
    "report_data",
    "sized_budget",
]
