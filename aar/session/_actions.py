"""`ResearchActions`: what the agent's tools do to a session, each checked before it acts.

A hypothesis, a cell, an evaluation, a finding, a proposal: each is refused with a `ToolError`
(text the agent can act on) when the round, its arguments or its numbers do not allow it;
else it is logged, written and committed. Numbers the agent states are checked against the
evaluator's records (`_claims`, `_evidence`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from aar.errors import validation_message
from aar.session._errors import ToolError
from aar.session._event_kinds import FindingRecorded, HypothesisProposed, Proposed
from aar.session._models import Hypothesis
from aar.session._views import CellOutcome, EvaluationSummary

if TYPE_CHECKING:
    from aar.memory import Finding
    from aar.review import Proposal
    from aar.session._session import Session


class ResearchActions:
    """The agent's actions on one session (its tools call these, and nothing else)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def propose_hypothesis(
        self,
        statement: str,
        method: str,
        rationale: str = "",
        family: str | None = None,
        params: dict[str, float] | None = None,
    ) -> Hypothesis:
        """Register a hypothesis; the next cell starts its experiment in a fresh sandbox. In a
        follow-up round it names what an approved follow-up tested (no code runs)."""
        session = self.session
        info, number = session.state.round, session.round_number
        if info is None or info.ended:
            raise ToolError("no round is running: cannot propose a hypothesis")
        n = sum(1 for h in session.state.hypotheses.values() if h.round == number) + 1
        if info.kind == "research" and n > session.config.hypotheses:
            raise ToolError(
                f"this round allows {session.config.hypotheses} hypotheses; record findings "
                "for them and call finish_round"
            )
        try:
            hypothesis = Hypothesis(
                id=f"h{number}-{n}",
                round=number,
                statement=statement,
                method=method,
                rationale=rationale,
                family=family,
                params=params or {},
            )
        except ValidationError as exc:
            raise ToolError(validation_message(exc, prefix="invalid hypothesis: ")) from None
        session.experiments.close()
        session.emit(HypothesisProposed(**hypothesis.model_dump()))
        return hypothesis

    def run_cell(self, code: str) -> CellOutcome:
        """Run one cell in the current hypothesis's experiment (started on first use)."""
        self._require_research_round("run new code")
        if not code.strip():
            raise ToolError("the cell is empty")
        with self.session.budget_stops():
            self.session.guard.before_cell()
        return self.session.experiments.run_cell(code)

    def evaluate(self, method: str, seeds: list[int] | None = None) -> EvaluationSummary:
        """Score every saved test prediction of `method` in the current experiment (of
        `seeds` only, when given)."""
        return self.session.experiments.evaluate(method, seeds)

    def record_finding(
        self, hypothesis_id: str, summary: str, verdict: str, eval_record_ids: list[str]
    ) -> Finding:
        """A finding whose metrics the session computes from the cited test records."""
        from aar.session._claims import ClaimError, build_finding
        from aar.session._evidence import UnbackedNumberError

        session = self.session
        try:
            finding = build_finding(
                session.state,
                hypothesis_id=hypothesis_id,
                summary=summary,
                verdict=verdict,
                eval_record_ids=eval_record_ids,
                git_commit=session.workspace.head,
            )
        except (ClaimError, UnbackedNumberError) as exc:
            raise ToolError(str(exc)) from None
        session.write(f"findings/{finding.id}.json", finding.model_dump_json(indent=2) + "\n")
        session.emit(FindingRecorded(finding=finding))
        session.commit(f"finding {finding.id} ({finding.verdict})")
        return finding

    def propose_followup(
        self,
        rationale: str,
        code: str,
        *,
        estimated_tokens: int = 0,
        hypothesis_id: str | None = None,
    ) -> Proposal:
        """A follow-up for people to review; it runs only once approved, byte for byte. Its
        rationale claims only what findings support (numbers backed, no "beat" without a
        supported verdict), and it follows the experiment of the hypothesis it names."""
        from aar.review import new_proposal, write_proposal
        from aar.sandbox import split_cells
        from aar.session._claims import ClaimError, check_rationale, followed_experiment
        from aar.session._evidence import UnbackedNumberError

        session = self.session
        if not code.strip() or not split_cells(code):
            raise ToolError("a follow-up needs code to run (cells split on '# %%' lines)")
        if not rationale.strip():
            raise ToolError("a follow-up needs a rationale a reviewer can judge")
        try:
            check_rationale(session.state, rationale, code)
        except (ClaimError, UnbackedNumberError) as exc:
            raise ToolError(str(exc)) from None
        follows = followed_experiment(session.state, rationale, code, hypothesis_id)
        try:
            proposal = new_proposal(
                session.id,
                session.round_number,
                rationale,
                code,
                estimated_evaluations=estimated_evaluations(code, len(session.config.pairs)),
                estimated_tokens=estimated_tokens,
                follows=follows,
            )
        except ValidationError as exc:
            raise ToolError(validation_message(exc, prefix="invalid follow-up: ")) from None
        path = write_proposal(session.root, proposal)
        session.emit(Proposed(id=proposal.id, sha256=proposal.sha256, path=str(path.name)))
        session.commit(f"proposal {proposal.id}")
        return proposal

    def check_round_summary(self, summary: str) -> None:
        """Refuse a round summary that states numbers no record of the round supports."""
        from aar.session._claims import check_round_summary
        from aar.session._evidence import UnbackedNumberError

        try:
            check_round_summary(self.session.state, summary)
        except UnbackedNumberError as exc:
            raise ToolError(str(exc)) from None

    def _require_research_round(self, what: str) -> None:
        info = self.session.state.round
        if info is None or info.ended:
            raise ToolError(f"no round is running: cannot {what}")
        if info.kind == "followup":
            raise ToolError(
                f"cannot {what} in a follow-up round: only the approved follow-ups run; "
                "evaluate their results, record findings, propose follow-ups, finish the round"
            )


def estimated_evaluations(code: str, pairs: int) -> int:
    """Pairs times the distinct method names the code saves test predictions under: a literal
    `name="..."`, or the `METHOD = "..."` the method library's scripts save under."""
    quoted = r"['\"]([A-Za-z0-9_.-]+)['\"]"
    names = set(re.findall(rf"name\s*=\s*{quoted}", code))
    names |= set(re.findall(rf"^METHOD\s*=\s*{quoted}", code, flags=re.MULTILINE))
    return pairs * max(len(names), 1)
