"""What a research round needs, worked out before anything runs, and budgets sized to it.

A round that quietly stops halfway (a budget too small for the tasks x seeds x hypotheses
asked for, or a library default nobody chose) leaves a half-evaluated hypothesis, no controls
and no follow-up, and looks like research that ran. So `aar run` estimates the round's needs
from its configuration first: a budget the user did not choose is sized to cover them, a
budget from the configuration file that cannot cover them is refused before anything starts,
and a smaller budget the user typed is respected and the report says what it cut.

The estimate follows the round's procedure: the session's own baselines (naive and logconf on
every (task, seed), first round only), then each hypothesis's search (up to
`CONFIGS_PER_HYPOTHESIS` configurations on every pair), and room for one follow-up sweep in the
next round. Requests follow the scripted researcher's steps (an LLM
researcher takes at least as many), with a margin for retries.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aar.session._config import Budgets, SessionConfig

BASELINE_METHODS = 2
"""naive and logconf, scored on every (task, seed) at the start of the first round."""
CELLS_PER_EXPERIMENT = 4
"""Cells of one experiment script of the method library (each a model request to run)."""
FOLLOWUP_VALUES = 3
"""Methods a follow-up sweep tries (a key parameter's grid less its default)."""
CONFIGS_PER_HYPOTHESIS = 4
"""Configurations the scripted researcher's search tries inside a hypothesis (a key
parameter's grid). Screened on 3 seeds and the better half promoted to all, they cost at most
this many evaluations per pair; the estimate takes that bound, so the budget covers it."""
EVALS_MARGIN = 1.25
REQUESTS_MARGIN = 2.0
"""An LLM researcher reads, retries and corrects itself: twice the scripted steps."""
SizedBudget = Literal["evals", "requests"]
SIZED: tuple[SizedBudget, ...] = ("evals", "requests")
"""The budgets a round's plan sizes (the others have no estimate: time, tokens, USD, CPU)."""


class RoundPlan(BaseModel):
    """What a research round needs: logged when the round starts, quoted by its report."""

    model_config = ConfigDict(frozen=True)

    pairs: int = Field(description="(task, seed) pairs the round studies.")
    hypotheses: int
    evaluations: int = Field(description="Scored test submissions the round needs.")
    requests: int = Field(description="Model requests the scripted procedure makes.")
    evals_budget: int
    requests_budget: int | None

    def shortfalls(self) -> list[str]:
        """One sentence per budget smaller than the plan (what the report says was cut)."""
        out = []
        if self.evals_budget < self.evaluations:
            out.append(
                f"the evaluation budget ({self.evals_budget}) is smaller than the "
                f"{self.evaluations} evaluations the round needs"
            )
        if self.requests_budget is not None and self.requests_budget < self.requests:
            out.append(
                f"the request budget ({self.requests_budget}) is smaller than the "
                f"{self.requests} model requests the round needs"
            )
        return out


def round_needs(config: SessionConfig, *, first: bool = True) -> tuple[int, int]:
    """(evaluations, requests) of one research round of `config`, follow-up room included."""
    pairs, tasks, hyps = len(config.pairs), len(config.tasks), config.hypotheses
    baselines = BASELINE_METHODS * pairs if first else 0
    k = CONFIGS_PER_HYPOTHESIS
    evaluations = baselines + hyps * k * pairs + FOLLOWUP_VALUES * pairs
    # list_tasks, one memory search per task, then per hypothesis: propose, run the cells of
    # its configurations, screen each, evaluate the promoted, one finding per task; then a
    # follow-up proposal and finish_round.
    steps = 1 + tasks + hyps * (1 + k * CELLS_PER_EXPERIMENT + 2 * k + tasks) + 2
    return evaluations, steps


def plan_round(config: SessionConfig, *, first: bool = True) -> RoundPlan:
    """The plan of a research round under `config`'s budgets."""
    evaluations, requests = round_needs(config, first=first)
    return RoundPlan(
        pairs=len(config.pairs),
        hypotheses=config.hypotheses,
        evaluations=evaluations,
        requests=requests,
        evals_budget=config.budgets.evals,
        requests_budget=config.budgets.requests,
    )


def sized_budget(name: SizedBudget, config: SessionConfig) -> int:
    """The budget `name` a round of `config` gets when nobody chose one: the default, or
    what the round needs with a margin when that is more."""
    evaluations, requests = round_needs(config)
    default = Budgets.model_fields[name].default
    if name == "evals":
        return max(default, math.ceil(evaluations * EVALS_MARGIN))
    return max(default, math.ceil(requests * REQUESTS_MARGIN))


class BudgetTooSmallError(ValueError):
    """A budget from the configuration file cannot cover the round asked for."""


def check_configured(name: SizedBudget, value: int, config: SessionConfig) -> None:
    """A configured (not typed) budget must cover the round: else one clear sentence."""
    evaluations, requests = round_needs(config)
    need = evaluations if name == "evals" else requests
    if value < need:
        what = "evaluations" if name == "evals" else "model requests"
        raise BudgetTooSmallError(
            f"the configured session budget {name} = {value} cannot cover this round: it "
            f"needs about {need} {what} ({len(config.tasks)} task(s) x {len(config.seeds)} "
            f"seed(s), {config.hypotheses} hypotheses); raise it in aar.toml ([session] "
            f"{name}) or choose a smaller one for this run with --budget-{name}"
        )
