"""A research team: many sessions at once, and what they found together (the leaderboard of
confirmed holdout results across every session of a runs directory).

The lead process holds the labels and serves the scorer (`aar.scorer.ScorerService`); each
researcher is a session run by `aar resume` on a Dask worker, scoring through the service.
"""

from aar.team._lead import (
    drive_team,
    enforce_team_budget,
    researcher_budgets,
    start_team,
    team_client,
    team_spend,
)
from aar.team._leaderboard import (
    Effect,
    Leaderboard,
    LeaderboardEntry,
    SkipNote,
    TaskBoard,
    leaderboard,
)
from aar.team._models import (
    MAX_MOVES,
    MAX_RESEARCHERS,
    Researcher,
    TeamBudgets,
    TeamConfig,
    TeamEvent,
    TeamRecord,
)
from aar.team._report import Diversity, team_diversity, write_report
from aar.team._status import ResearcherStatus, TeamStatus, can_continue, resumable, team_status
from aar.team._store import Team, TeamBusyError, TeamNotFoundError, open_team, team_ids
from aar.team._worker import ResearcherJob, ResearcherResult, run_researcher

__all__ = [
    "MAX_MOVES",
    "MAX_RESEARCHERS",
    "Diversity",
    "Effect",
    "Leaderboard",
    "LeaderboardEntry",
    "Researcher",
    "ResearcherJob",
    "ResearcherResult",
    "ResearcherStatus",
    "SkipNote",
    "TaskBoard",
    "Team",
    "TeamBudgets",
    "TeamBusyError",
    "TeamConfig",
    "TeamEvent",
    "TeamNotFoundError",
    "TeamRecord",
    "TeamStatus",
    "can_continue",
    "drive_team",
    "enforce_team_budget",
    "leaderboard",
    "open_team",
    "researcher_budgets",
    "resumable",
    "run_researcher",
    "start_team",
    "team_client",
    "team_diversity",
    "team_ids",
    "team_spend",
    "team_status",
    "write_report",
]
