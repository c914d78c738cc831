"""Running a round: the agent (scripted or a language model) against a `Session`.

`run_round` starts a research round (baselines first in the session's first round), or a
follow-up round that runs only approved proposals, or continues a round a killed process left
behind; it always ends with the round finalised (report written, awaiting review) unless the
process itself is interrupted, in which case everything done so far is in the log.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.exceptions import AgentRunError, ModelHTTPError, UnexpectedModelBehavior
from pydantic_ai.usage import UsageLimits

from aar.agent._experiments import experiment_code
from aar.agent._model import SessionModel, history_path, load_history
from aar.agent._prompts import instructions, user_prompt
from aar.agent._providers import ModelPrice, PriceTable
from aar.agent._scripted import scripted_model
from aar.agent._tools import (
    FINISH_ROUND,
    ResearchDeps,
    completed_tool_calls,
    research_toolset,
)
from aar.errors import AarError
from aar.hashing import join_cells
from aar.sandbox import split_cells
from aar.session import Note, RoundOutcome, RoundOver, RoundSummary, Session, ToolError

BASELINE_METHODS = ("naive", "logconf")
NO_LIBRARY_LIMITS = UsageLimits(request_limit=None)
"""pydantic-ai ends a run after 50 requests by default; a 7-task round needs ~100. The
session's own budgets (checked before every request in `SessionModel`) are the only limits."""
MODEL_RETRIES = 3
"""Malformed tool calls or unbacked numbers the model may fix before the round ends."""


def baseline_code(pairs: list[tuple[str, int]]) -> str:
    """The session's naive and logconf baselines on every (task, seed), one script.

    The script runs on every mounted pair (`pairs=None`): the session mounts exactly `pairs`,
    and the same code then re-runs, byte for byte, on the fresh seeds that confirm a verdict.
    """
    del pairs  # the session's export holds exactly these
    cells = [
        c for m in BASELINE_METHODS for c in split_cells(experiment_code(m, method=m, pairs=None))
    ]
    return join_cells(cells)


def build_agent(
    session: Session, *, followup: bool, model: Any = None
) -> Agent[ResearchDeps, RoundSummary]:
    """The round's agent: the configured model (or `model`, e.g. a test's FunctionModel)
    behind `SessionModel`, the tools, and `finish_round` as its output (numbers in the
    summary checked before it is accepted)."""
    config = session.config
    price = None
    if model is None and config.scripted:
        model = scripted_model(
            followup, config.seeds, config.hypotheses, session.round_number, config.directions
        )
    elif model is None:
        from aar.agent._providers import build_model, model_price

        model = build_model(config.model, base_url=config.base_url, max_retries=0)
        price = model_price(config.model, price_table(), base_url=config.base_url)
    agent: Agent[ResearchDeps, RoundSummary] = Agent(
        SessionModel(model, session, config.model, price=price),
        deps_type=ResearchDeps,
        output_type=FINISH_ROUND,
        instructions=instructions(config, followup=followup),
        retries=MODEL_RETRIES,
        toolsets=[research_toolset()],
    )

    @agent.output_validator
    def _backed(ctx: RunContext[ResearchDeps], output: RoundSummary) -> RoundSummary:
        try:
            ctx.deps.session.research.check_round_summary(output.summary)
        except ToolError as exc:
            raise ModelRetry(str(exc)) from None
        return output

    return agent


def price_table() -> PriceTable | None:
    """`settings.agent.prices` as the providers' `PriceTable` (overrides genai-prices)."""
    from aar.config import get_settings

    prices = get_settings().agent.prices
    if not prices:
        return None
    return PriceTable(models={k: ModelPrice(**v.model_dump()) for k, v in prices.items()})


def start_round(session: Session) -> str:
    """Begin the next round: research if the session has none yet, else the follow-ups
    reviewers approved. Returns the round's kind ('closed' when nothing was approved)."""
    return session.start_round()


def run_round(session: Session, *, model: Any = None) -> str:
    """Run (or continue) the current round to its end; returns why it ended. `model`
    replaces the configured researcher (tests drive hostile models this way)."""
    info = session.state.round
    if info is None or info.ended:
        raise AarError("no round to run: start one first")
    runner = session.experiments
    runner.recover_interrupted()
    try:
        if info.kind == "research" and info.number == 1:
            runner.run_baselines(baseline_code(session.config.pairs), list(BASELINE_METHODS))
        if info.kind == "followup":
            for proposal_id in info.followups:
                if not runner.followup_done(proposal_id):
                    runner.run_followup(proposal_id)
    except RoundOver as exc:  # a budget, the sandbox or the baselines ended it before the agent
        session.end_round(exc.why, None, outcome=exc.outcome)
        return exc.why
    return _run_agent(session, followup=info.kind == "followup", model=model)


def _run_agent(session: Session, *, followup: bool, model: Any) -> str:
    from aar.agent._tokens import count_tokens, ensure_offline_encodings

    ensure_offline_encodings()
    count_tokens("warm up", "gpt-4o")  # the tokenizer loads once here, not in the first step
    agent = build_agent(session, followup=followup, model=model)
    history = load_history(history_path(session, session.round_number))
    deps = ResearchDeps(session, done=completed_tool_calls(session))
    prompt = None if history else user_prompt(session.config, followup=followup)
    summary: str | None = None
    outcome: RoundOutcome = "failed"
    try:
        result = agent.run_sync(
            prompt, message_history=history or None, deps=deps, usage_limits=NO_LIBRARY_LIMITS
        )
        summary, why, outcome = result.output.summary, "finished by the agent", "completed"
    except RoundOver as exc:
        why, outcome = exc.why, exc.outcome
    except (UnexpectedModelBehavior, ModelHTTPError, AgentRunError) as exc:
        why = f"the model failed: {type(exc).__name__}: {exc}"[:500]
        session.emit(Note(message=why))
    session.end_round(why, summary, outcome=outcome)
    return why
