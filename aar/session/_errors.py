"""How a session action ends other than by returning: a mistake the agent can fix, or the end
of the round.

`ToolError` goes back to the agent as text and the round goes on. `RoundOver` ends the round
cleanly (the report says why, and leads with it); its subclass `BudgetExhausted`
(`_budget.py`) is the one error every budget raises.
"""

from __future__ import annotations

from aar.errors import AarError
from aar.session._models import RoundOutcome


class ToolError(AarError):
    """A mistake the agent can fix (bad arguments, nothing to evaluate, an unbacked number)."""


class RoundOver(Exception):
    """The round must end now (a budget is used up, the sandbox is unavailable); `outcome`
    says which kind of early end it is (the report's first lines and the exit code)."""

    def __init__(self, why: str, outcome: RoundOutcome = "failed") -> None:
        super().__init__(why)
        self.why = why
        self.outcome: RoundOutcome = outcome


class SessionNotFoundError(AarError):
    """No session with this id under the runs directory."""
