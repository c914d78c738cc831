"""Research sessions: `runs/<id>/` as a git repository, an append-only event log from which
every state and number is rebuilt, budgets enforced outside the agent, one evaluation ledger,
end-of-round holdout scoring, reports, and resume after a kill.
"""

from aar.session._budget import BudgetExhausted, BudgetGuard
from aar.session._claims import VERDICTS, ClaimError
from aar.session._config import DEFAULT_GOAL, DEFAULT_TASKS, SCRIPTED, Budgets, SessionConfig
from aar.session._events import EventLog, SessionBusyError, replay
from aar.session._evidence import UnbackedNumberError
from aar.session._finalize import BASELINES
from aar.session._ledger import EvalBudgetExhausted
from aar.session._models import (
    EvalEntry,
    Event,
    Experiment,
    Hypothesis,
    RoundInfo,
    RoundSummary,
    SessionState,
    Usage,
)
from aar.session._progress import Progress
from aar.session._replay import ReplayResult, replay_session
from aar.session._report import ReportData, render_markdown, report_data
from aar.session._session import RoundOver, Session, SessionNotFoundError, ToolError

__all__ = [
    "BASELINES",
    "DEFAULT_GOAL",
    "DEFAULT_TASKS",
    "SCRIPTED",
    "VERDICTS",
    "BudgetExhausted",
    "BudgetGuard",
    "Budgets",
    "ClaimError",
    "EvalBudgetExhausted",
    "EvalEntry",
    "Event",
    "EventLog",
    "Experiment",
    "Hypothesis",
    "Progress",
    "ReplayResult",
    "ReportData",
    "RoundInfo",
    "RoundOver",
    "RoundSummary",
    "Session",
    "SessionBusyError",
    "SessionConfig",
    "SessionNotFoundError",
    "SessionState",
    "ToolError",
    "UnbackedNumberError",
    "Usage",
    "render_markdown",
    "replay",
    "replay_session",
    "report_data",
]
