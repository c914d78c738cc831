"""A research team: many sessions at once, and what they found together (the leaderboard of
confirmed holdout results across every session of a runs directory)."""

from aar.team._leaderboard import (
    Effect,
    Leaderboard,
    LeaderboardEntry,
    SkipNote,
    TaskBoard,
    leaderboard,
)

__all__ = [
    "Effect",
    "Leaderboard",
    "LeaderboardEntry",
    "SkipNote",
    "TaskBoard",
    "leaderboard",
]
