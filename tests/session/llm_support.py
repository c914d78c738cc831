"""Language-model researchers for the fake provider (`tools/fake_llm.py`) on 127.0.0.1, and the
one-round session they drive: the same tools, sandbox, evaluator and memory as offline."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aar.agent import experiment_code, run_round, start_round
from aar.config import get_settings
from aar.session import Budgets, Session, SessionConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fake_llm import RecordedRequest, ToolCall, Usage

PAIRS = [("digits-ge5", 42), ("digits-ge5", 43)]
FILLER = "print(' '.join(f'w{i}x' for i in range(700)))"
"""A cell with a long output (~4,000 characters), as exploring data gives."""


def tool_results(request: RecordedRequest) -> list[Any]:
    """The tool results the agent has sent back so far, in order (either API); a result that
    is not JSON (a condensed one is its placeholder text) is its text."""
    out: list[Any] = []
    for message in request.body.get("messages", []):
        if message.get("role") == "tool":
            out.append(_decoded(message["content"]))
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    inner = block["content"]
                    out.append(_decoded(inner if isinstance(inner, str) else inner[0]["text"]))
    return out


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def smoothing_researcher(
    usage: Usage | None = None, filler_cells: int = 0
) -> Callable[[RecordedRequest], ToolCall]:
    """A tiny researcher: baselines, one label-smoothing hypothesis (then `filler_cells` cells
    with long outputs), evaluate, a finding on its and naive's records, finish."""
    plan: list[tuple[str, dict[str, Any]]] = [
        ("list_tasks", {}),
        ("propose_hypothesis", {"statement": "smoothing beats naive", "method": "smooth"}),
        ("run_cell", {"code": experiment_code("label_smoothing", method="smooth", pairs=PAIRS)}),
        *[("run_cell", {"code": FILLER})] * filler_cells,
        ("evaluate", {"method": "smooth"}),
    ]
    extra = {} if usage is None else {"usage": usage}

    def policy(request: RecordedRequest) -> ToolCall:
        done = tool_results(request)
        if len(done) < len(plan):
            name, args = plan[len(done)]
            return ToolCall(name=name, args=args, **extra)
        if len(done) == len(plan):
            naive_ids = done[0]["baselines"]["naive"]["digits-ge5"]["record_ids"]
            finding = {
                "hypothesis_id": done[1]["id"],
                "summary": "label smoothing compared with naive",
                "verdict": "inconclusive",
                "eval_record_ids": done[-1]["tasks"]["digits-ge5"]["record_ids"] + naive_ids,
            }
            return ToolCall(name="record_finding", args=finding, **extra)
        return ToolCall(name="finish_round", args={"summary": "one hypothesis tested"}, **extra)

    return policy


def run_fake_round(
    base_url: str, model: str = "openai:fake-model", budgets: Budgets | None = None
) -> tuple[Session, str]:
    """One research round on digits-ge5 × 2 seeds, one hypothesis, driven by `model` at
    `base_url`; returns the (shut down) session and why the round ended."""
    config = SessionConfig(
        tasks=["digits-ge5"],
        seeds=[42, 43],
        hypotheses=1,
        model=model,
        base_url=base_url,
        budgets=budgets or Budgets(),
    )
    session = Session.create(get_settings().runs_dir, config)
    try:
        start_round(session)
        why = run_round(session)
    finally:
        session.shutdown()
    return session, why
